//! Generates the gRPC code from `gfn/v1/gfn.proto` (actor–learner) and
//! `gfn/reward/v1/reward.proto` (reward services) with a vendored `protoc`, so that building
//! needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; this only informs prost-build of protoc's path.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let protos = ["gfn/v1/gfn.proto", "gfn/reward/v1/reward.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure().compile_protos(&protos, &["."])?;
    Ok(())
}
