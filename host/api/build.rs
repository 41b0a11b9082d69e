//! Generates the gRPC server and client from `proto/guardian/v1/` (the one
//! source of truth), and the file descriptor set the reflection service
//! serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto = root.join("guardian/v1/guardian.proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", proto.display());
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out.join("guardian_v1_descriptor.bin"))
        .compile_protos(&[proto], &[root])?;
    Ok(())
}
