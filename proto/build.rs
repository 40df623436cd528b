//! Generates keel-proto's Rust code from the `.proto` files, with no `protoc`.
//!
//! ```text
//!  etcd/**/*.proto, keel/*.proto, grpc/health/v1/health.proto
//!        │  protox (pure Rust parser + checker)
//!        ▼
//!  $OUT_DIR/keel_descriptor_set.bin   (encoded FileDescriptorSet, with
//!        │                             imports and source comments)
//!        │  madsim-tonic-build, told `skip_protoc_run` + this file
//!        ▼
//!  $OUT_DIR/<package>.rs       prost messages + tonic clients/servers
//!  $OUT_DIR/sim/<package>.rs   the same for madsim's simulated tonic
//! ```
//!
//! Why this shape: `madsim-tonic-build` (the workspace's `tonic-build`) has no
//! `compile_fds` entry point, but it forwards prost-build's
//! `file_descriptor_set_path` + `skip_protoc_run` pair, which makes prost-build
//! read an already-compiled descriptor set from that path instead of running
//! `protoc`. So protox compiles the files into a descriptor set, we write it
//! to `OUT_DIR`, and madsim-tonic-build generates both the real and the
//! simulated code from it. The `protos`/`includes` arguments it still takes
//! are then ignored by prost-build. A fresh machine needs nothing but cargo.
//!
//! The same descriptor file is embedded in the crate as
//! `keel_proto::FILE_DESCRIPTOR_SET` (for gRPC reflection, JSON transcoding
//! and the wire-contract test).

use std::env;
use std::error::Error;
use std::path::{Path, PathBuf};

/// Every `.proto` file of the crate, relative to the crate root, which is
/// also the single include root (so imports read `etcd/mvccpb/kv.proto`).
const PROTO_FILES: &[&str] = &[
    "etcd/mvccpb/kv.proto",
    "etcd/authpb/auth.proto",
    "etcd/etcdserverpb/rpc.proto",
    "etcd/v3lockpb/v3lock.proto",
    "etcd/v3electionpb/v3election.proto",
    "keel/raft.proto",
    "keel/command.proto",
    "grpc/health/v1/health.proto",
];

/// Name of the encoded `FileDescriptorSet` in `OUT_DIR`; `src/lib.rs`
/// includes it under this name.
const DESCRIPTOR_SET_FILE: &str = "keel_descriptor_set.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let include_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let proto_paths: Vec<PathBuf> = PROTO_FILES
        .iter()
        .map(|file| include_root.join(file))
        .collect();

    println!("cargo:rerun-if-changed=build.rs");
    for path in &proto_paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    let descriptor_set_path = out_dir.join(DESCRIPTOR_SET_FILE);
    let descriptor_set = compile_descriptor_set(&include_root)?;
    std::fs::write(&descriptor_set_path, descriptor_set)?;

    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(&descriptor_set_path)
        .skip_protoc_run()
        // Maps as BTreeMap: iteration, and so encoding, is in key order, the
        // same on every member and in every simulation run (a HashMap's
        // order is random). openraft keeps membership nodes in a BTreeMap too.
        .btree_map(["."])
        // We print precise rerun-if-changed lines above; its own would name
        // the whole crate directory as an include root.
        .emit_rerun_if_changed(false)
        .compile_protos(&proto_paths, &[include_root])?;
    Ok(())
}

/// Parses and type-checks every file with protox and returns the encoded
/// `FileDescriptorSet`: imports included (so it is self-contained), source
/// info included (so the generated code carries the `.proto` comments).
fn compile_descriptor_set(include_root: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut compiler = protox::Compiler::new([include_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTO_FILES).map_err(|error| {
        // protox's Debug output is a miette report naming file, line and
        // column; that is what the person editing a .proto needs to see.
        format!("protox failed to compile the .proto files: {error:?}")
    })?;
    Ok(compiler.encode_file_descriptor_set())
}
