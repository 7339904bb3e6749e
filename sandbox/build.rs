//! Builds the clock shim (`clock/clock.c`) a reproducibility check loads into tasks, as
//! a shared object the sandbox writes into a task's `/etc` (see `layout::CLOCK_SHIM`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=clock/clock.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let so = out.join("rstore-clock.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&so)
        .arg("clock/clock.c")
        .arg("-ldl")
        .status()
        .expect("running the C compiler for clock/clock.c");
    assert!(status.success(), "compiling clock/clock.c failed");
}
