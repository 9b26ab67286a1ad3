//! Gives the binaries a run path to libtorch (`$LIBTORCH/lib`, which `scripts/libtorch.sh`
//! exports), so that `target/release/motifs …` runs without sourcing anything first. Elsewhere
//! (the container image) the dynamic loader's usual search applies.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libtorch}/lib");
    }
}
