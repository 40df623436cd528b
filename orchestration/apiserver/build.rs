//! Generates the Rust messages of `proto/openapiv2.proto` (the part of
//! gnostic's OpenAPI v2 protobuf that `/openapi/v2` answers with), with no
//! `protoc`, the way keel-proto's build does:
//!
//! ```text
//!  proto/openapiv2.proto
//!        │  protox (pure Rust parser + checker)
//!        ▼
//!  $OUT_DIR/openapiv2_descriptor_set.bin
//!        │  madsim-tonic-build (prost-build underneath), `skip_protoc_run`
//!        ▼
//!  $OUT_DIR/openapi.v2.rs   prost messages, no services
//! ```

use std::env;
use std::error::Error;
use std::path::PathBuf;

/// The `.proto` file, relative to `proto/`, the include root.
const PROTO_FILE: &str = "openapiv2.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let include_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let proto_path = include_root.join(PROTO_FILE);
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", proto_path.display());

    let mut compiler = protox::Compiler::new([&include_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files([PROTO_FILE])
        .map_err(|error| format!("protox failed to compile {PROTO_FILE}: {error:?}"))?;
    let descriptor_set_path = out_dir.join("openapiv2_descriptor_set.bin");
    std::fs::write(&descriptor_set_path, compiler.encode_file_descriptor_set())?;

    tonic_build::configure()
        .build_client(false)
        .build_server(false)
        .file_descriptor_set_path(&descriptor_set_path)
        .skip_protoc_run()
        .emit_rerun_if_changed(false)
        .compile_protos(&[proto_path], &[include_root])?;
    Ok(())
}
