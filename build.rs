//! Fails early, with the fix, when the system DPDK is missing (before dpdk-sys's longer build).

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(false)
        .probe("libdpdk")
    {
        panic!(
            "ipvlan-switch needs DPDK >= 22.11 found by pkg-config ({e}).\n\
             Fix: run `sudo ./scripts/setup.sh`, or `apt-get install -y dpdk-dev libdpdk-dev pkg-config clang libclang-dev`."
        );
    }
}
