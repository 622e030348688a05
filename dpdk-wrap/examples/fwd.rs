//! A testpmd-style io forwarder between two ports through dpdk-wrap, for comparing the cost
//! of the Rust wrappers with dpdk-testpmd on the same vdevs; then a microbenchmark of the
//! static-inline wrappers per burst.
//!
//! usage: fwd SECONDS DEVICE_A DEVICE_B   (e.g. fwd 5 net_null0 net_null1)
//! Prints one `rate: X Mpps` line per second (both directions summed), then `inline:` lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/io_fwd/mod.rs"]
mod io_fwd;

use dpdk_wrap::{rdtsc, Eal, EthPort, MbufBatch, Mempool, PortSetup};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, seconds, dev_a, dev_b] = &args[..] else {
        panic!("usage: fwd SECONDS DEVICE_A DEVICE_B");
    };
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let prefix = format!("fwd-{}", std::process::id());
    let eal = Eal::init(&[
        "-l",
        "0,1",
        "--no-pci",
        "--in-memory",
        "--file-prefix",
        &prefix,
        "--log-level",
        "*:warning",
    ])
    .expect("EAL");
    let pool = Mempool::new(&eal, "fwd_pool", 16383, 256).expect("pool");
    let (a, b) = (
        EthPort::open(&eal, dev_a).unwrap(),
        EthPort::open(&eal, dev_b).unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let job = io_fwd::launch(&eal, &a, &b, &pool, stop.clone());
    let received = || a.stats().unwrap().rx_packets + b.stats().unwrap().rx_packets;
    let (mut t0, mut n0) = (Instant::now(), received());
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let (t1, n1) = (Instant::now(), received());
        println!(
            "rate: {:.3} Mpps",
            (n1 - n0) as f64 / t1.duration_since(t0).as_secs_f64() / 1e6
        );
        (t0, n0) = (t1, n1);
    }
    stop.store(true, Ordering::Relaxed);
    job.join().unwrap();

    // The wrappers' cost per burst, on this (main) lcore: an empty call through a C wrapper,
    // and a bulk alloc + bulk free of one burst.
    const ITERATIONS: u64 = 2_000_000;
    let hz = eal.tsc_hz() as f64;
    let ns = |cycles: u64| cycles as f64 * 1e9 / hz / ITERATIONS as f64;
    let start = rdtsc();
    let mut sum = 0u64;
    for _ in 0..ITERATIONS {
        sum = sum.wrapping_add(u64::from(std::hint::black_box(Eal::current_lcore())));
    }
    println!(
        "inline: rte_lcore_id via wrapper: {:.2} ns/call (checksum {sum})",
        ns(rdtsc() - start)
    );
    let mut batch = MbufBatch::new();
    let start = rdtsc();
    for _ in 0..ITERATIONS {
        pool.alloc_bulk(&mut batch).unwrap();
        batch.free_all();
    }
    println!(
        "inline: alloc_bulk(32) + free_bulk: {:.2} ns/burst",
        ns(rdtsc() - start)
    );
    let null = EthPort::open(&eal, "net_null_bench").unwrap();
    let (mut null_rx, mut null_tx) = null.start(&PortSetup::default(), &pool).unwrap();
    let start = rdtsc();
    for _ in 0..ITERATIONS {
        null_rx[0].recv(&mut batch);
        null_tx[0].send(&mut batch);
    }
    println!(
        "inline: rx_burst(32) + tx_burst(32) on net_null: {:.2} ns/burst",
        ns(rdtsc() - start)
    );
    assert_eq!(pool.in_use() as usize, 0, "mbufs leaked");
}
