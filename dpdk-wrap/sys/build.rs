//! Generates bindings to the system DPDK and compiles wrappers for its static-inline functions.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_DPDK: &str = "22.11";
const INSTALL_HINT: &str =
    "install it with `apt-get install -y dpdk-dev libdpdk-dev pkg-config clang libclang-dev` \
     (or run ./scripts/setup.sh from the repository root)";

fn pkg_config(args: &[&str]) -> String {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config ({e}): {INSTALL_HINT}"));
    if !out.status.success() {
        panic!(
            "pkg-config {args:?} libdpdk failed: {}DPDK >= {MIN_DPDK} was not found; {INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("pkg-config output is UTF-8")
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=errno.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--modversion"]);
    if pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .cargo_metadata(false)
        .probe("libdpdk")
        .is_err()
    {
        panic!(
            "DPDK {} is too old: need >= {MIN_DPDK}; {INSTALL_HINT}",
            version.trim()
        );
    }
    // Every cflag token, unchanged: `-include rte_config.h` and `-march=corei7` matter to both
    // bindgen and the C compiler (rte_memcpy's intrinsics need the -march).
    let cflags: Vec<String> = pkg_config(&["--cflags"])
        .split_whitespace()
        .map(String::from)
        .collect();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let inline_wrappers = out.join("static_inlines");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .allowlist_function(
            "rte_(eal|eth|pktmbuf|mempool|mbuf|ring|vdev|dev|lcore|socket|strerror|get_tsc|get_next_lcore|get_main_lcore|rdtsc|delay|version|vhost|tel|pdump|lpm).*",
        )
        .allowlist_function("dpdk_sys_errno")
        .allowlist_type("rte_(eth|mbuf|mempool|ring|ether|vhost|tel|lpm_config).*")
        .allowlist_var("RTE_(PKTMBUF|MBUF|MAX|ETH|RING|MEMPOOL|ETHER|VHOST|TEL|LPM_LOOKUP).*")
        // Its 16 M-entry table is DPDK's business: the lpm_vs_trie example holds a pointer.
        .opaque_type("rte_lpm")
        // Takes an SSE vector by value: no Rust FFI type for it (lookup_bulk serves).
        .blocklist_function("rte_lpm_lookupx4")
        .allowlist_var("rte_eth_devices|rte_eth_fp_ops")
        // Packed structs that contain an align(2) type do not compile in Rust.
        .blocklist_type("rte_arp_hdr|rte_arp_ipv4")
        .no_debug("rte_flow_item_gtp_psc")
        .derive_default(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&inline_wrappers)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on wrapper.h ({e}): is libclang installed? {INSTALL_HINT}"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut build = cc::Build::new();
    build
        .file(inline_wrappers.with_extension("c"))
        .file("errno.c")
        .include(&crate_dir)
        .opt_level(3)
        .warnings(false);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("dpdk_sys_inlines");

    for token in pkg_config(&["--libs"]).split_whitespace() {
        if let Some(lib) = token.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if let Some(dir) = token.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
    // Drivers whose own API we call (rte_vdev_init, rte_eth_from_rings): pkg-config lists only
    // the core libraries. They are the same files the EAL loads as plugins (symlinks), so no
    // driver is registered twice.
    for lib in ["rte_bus_vdev", "rte_net_ring"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
