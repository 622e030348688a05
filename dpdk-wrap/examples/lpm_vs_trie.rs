//! Mode l3's route lookup against DPDK's: the same table (the master's 10.0.0.1/24, 1,000 /24
//! routes 20.x.y.0/24, a default route) in `switch_core::routes::Routes` (the switch's trie)
//! and in `rte_lpm` (DIR-24-8), looked up in bursts of 32 (`rte_lpm_lookup_bulk`, one call per
//! burst; and `rte_lpm_lookup`, one call per address) over two address sets: the benchmark's 3,000 destinations (hot in the cache) and
//! 1 M random addresses (cold: they touch the whole of both tables). Best of 7, ns per lookup.
//! The two must agree on every address (the next hop each gives is checked).
//!
//! usage: lpm_vs_trie

use std::ffi::CString;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use dpdk_wrap::Eal;
use switch_core::classify::Key;
use switch_core::routes::{Route, Routes};
use switch_core::table::AddressTable;

const BURST: usize = 32;

fn main() {
    let prefix = format!("lpm-{}", std::process::id());
    let _eal = Eal::init(&[
        "-l",
        "0",
        "--no-pci",
        "--in-memory",
        "--file-prefix",
        &prefix,
        "--log-level",
        "*:warning",
    ])
    .expect("EAL");
    let gateway = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 2 + i % 200));
    let mut routes: Vec<(IpAddr, u8, IpAddr)> = (0..1000u32)
        .map(|i| {
            (
                IpAddr::V4(Ipv4Addr::new(20, (i / 250) as u8, (i % 250) as u8, 0)),
                24,
                gateway(i),
            )
        })
        .collect();
    routes.push((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, gateway(999)));
    let master = [(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24)];
    let trie = Routes::new(&master, &routes, &AddressTable::new([]));

    // rte_lpm's next hop: the gateway's last byte, or 1000 (connected) / 1001 (local).
    let config = dpdk_sys::rte_lpm_config {
        max_rules: 4096,
        number_tbl8s: 256,
        flags: 0,
    };
    let name = CString::new("routes").unwrap();
    // SAFETY: a valid name and configuration; the EAL is up. NULL is checked.
    let lpm = unsafe { dpdk_sys::rte_lpm_create(name.as_ptr(), -1, &config) };
    assert!(!lpm.is_null(), "rte_lpm_create failed (hugepages?)");
    let add = |network: u32, depth: u8, hop: u32| {
        // SAFETY: `lpm` is a live table.
        assert_eq!(unsafe { dpdk_sys::rte_lpm_add(lpm, network, depth, hop) }, 0);
    };
    for (to, depth, via) in &routes {
        let (IpAddr::V4(to), IpAddr::V4(via)) = (to, via) else {
            unreachable!()
        };
        let hop = u32::from(via.octets()[3]);
        match depth {
            // rte_lpm takes depths 1..=32: a default route is its two halves.
            0 => [0, 0x8000_0000].into_iter().for_each(|half| add(half, 1, hop)),
            _ => add(u32::from(*to), *depth, hop),
        }
    }
    add(0x0a00_0000, 24, 1000);
    add(0x0a00_0001, 32, 1001);
    let expected = |route: Option<Route>| match route {
        Some(Route::Via(Key::V4(via))) => via & 0xff,
        Some(Route::Connected) => 1000,
        Some(Route::Local) => 1001,
        other => panic!("{other:?}"),
    };

    let hot: Vec<u32> = (0..3000u32)
        .map(|i| u32::from_be_bytes([20, (i % 1000 / 250) as u8, (i % 250) as u8, 1]))
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let cold: Vec<u32> = (0..1 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u32
        })
        .collect();
    for (label, addresses) in [("hot (3,000 destinations)", &hot), ("cold (1 M random)", &cold)] {
        let mut hops = [0u32; BURST];
        // Agreement first.
        for chunk in addresses.chunks(BURST) {
            // SAFETY: `chunk.len()` addresses in, as many hops out; `lpm` is live.
            unsafe {
                dpdk_sys::rte_lpm_lookup_bulk_func(lpm, chunk.as_ptr(), hops.as_mut_ptr(), chunk.len() as u32)
            };
            for (&a, &hop) in chunk.iter().zip(&hops) {
                let valid = dpdk_sys::RTE_LPM_LOOKUP_SUCCESS;
                assert_eq!(
                    (hop & valid != 0, hop & 0x00ff_ffff),
                    (true, expected(trie.lookup(Key::V4(a))))
                );
            }
        }
        let time = |lookup: &mut dyn FnMut(&[u32])| {
            (0..7)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..(4_000_000 / addresses.len()).max(1) {
                        addresses.chunks(BURST).for_each(&mut *lookup);
                    }
                    let lookups = (4_000_000 / addresses.len()).max(1) * addresses.len();
                    start.elapsed().as_nanos() as f64 / lookups as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let trie_ns = time(&mut |chunk| {
            for &a in chunk {
                black_box(trie.toward(Key::V4(a)));
            }
        });
        let lpm_ns = time(&mut |chunk| {
            // SAFETY: as above.
            unsafe {
                dpdk_sys::rte_lpm_lookup_bulk_func(lpm, chunk.as_ptr(), hops.as_mut_ptr(), chunk.len() as u32)
            };
            black_box(&hops);
        });
        // One at a time, as a datapath deciding frame by frame calls it (through bindgen's
        // wrapper of the static inline: a call each).
        let single_ns = time(&mut |chunk| {
            for &a in chunk {
                let mut hop = 0;
                // SAFETY: as above.
                black_box(unsafe { dpdk_sys::rte_lpm_lookup(lpm, a, &mut hop) });
                black_box(hop);
            }
        });
        println!(
            "{label}: trie {trie_ns:.2} ns/lookup; rte_lpm bulk {lpm_ns:.2}, one by one {single_ns:.2} (trie / bulk {:.2}, / one by one {:.2})",
            trie_ns / lpm_ns,
            trie_ns / single_ns
        );
    }
    // SAFETY: nothing uses `lpm` after this.
    unsafe { dpdk_sys::rte_lpm_free(lpm) };
}
