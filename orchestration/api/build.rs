//! Compiles Kubernetes' vendored `.proto` files (proto/) into one encoded
//! `FileDescriptorSet`, which `src/protobuf` embeds and reads request
//! bodies against. No `protoc` and no generated Rust code: the descriptors
//! are all keel needs to walk a message into JSON.
//!
//! ```text
//!   proto/k8s.io/**/generated.proto   (Kubernetes 1.33, see proto/README.md)
//!        │  protox (pure Rust parser + checker)
//!        ▼
//!   $OUT_DIR/kubernetes_descriptor_set.bin ──include_bytes!──► keel_api::protobuf
//! ```

use std::env;
use std::error::Error;
use std::path::PathBuf;

/// The files the decoder needs, relative to `proto/` (the include root, so
/// the files' own imports resolve as they do in Kubernetes). The kinds'
/// files; protox pulls in the apimachinery files they import.
const PROTO_FILES: &[&str] = &[
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/batch/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/apimachinery/pkg/runtime/generated.proto",
];

/// Name of the encoded `FileDescriptorSet` in `OUT_DIR`.
const DESCRIPTOR_SET_FILE: &str = "kubernetes_descriptor_set.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let include_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", include_root.display());

    let mut compiler = protox::Compiler::new([&include_root])?;
    // Imports included so the set stands alone; no source info: comments
    // are of no use to the decoder and would triple the embedded size.
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(PROTO_FILES).map_err(|error| {
        // protox's Debug output names file, line and column.
        format!("protox failed to compile Kubernetes' .proto files: {error:?}")
    })?;
    std::fs::write(
        out_dir.join(DESCRIPTOR_SET_FILE),
        compiler.encode_file_descriptor_set(),
    )?;
    Ok(())
}
