//! A testpmd-style forwarder on a worker lcore between two ring-backed ports: every packet
//! offered on one side arrives on the other, the port counters agree, and no mbuf leaks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod io_fwd;

use dpdk_wrap::{Eal, EthPort, MbufBatch, Mempool, Ring};

const PACKETS: usize = 10_000;
const POOL: u32 = 511;

#[test]
fn forwards_between_two_ports_without_leaking() {
    let prefix = format!("fwdtest{}", std::process::id());
    let eal = Eal::init(&[
        "-l",
        "0,1",
        "--no-pci",
        "--in-memory",
        "-m",
        "128",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:error",
    ])
    .expect("EAL init");
    let pool = Mempool::new(&eal, "fwd_pool", POOL, 0).expect("pool");

    // Port a reads a_in and writes a_out; port b likewise.
    let ring = |n: &str| Ring::create(&eal, n, 1024).expect("ring");
    let (a_in, a_out, b_in, b_out) = (ring("a_in"), ring("a_out"), ring("b_in"), ring("b_out"));
    let a = EthPort::from_rings(&eal, "net_a", &[&a_in], &[&a_out]).unwrap();
    let b = EthPort::from_rings(&eal, "net_b", &[&b_in], &[&b_out]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let job = io_fwd::launch(&eal, &a, &b, &pool, stop.clone());

    // Offer PACKETS frames into a (numbered), and 1/4 as many into b; collect what comes out.
    let mut received = [Vec::new(), Vec::new()];
    let mut sent = [0usize; 2];
    let mut batch = MbufBatch::new();
    let total = [PACKETS, PACKETS / 4];
    while received[0].len() < total[0] || received[1].len() < total[1] {
        for (side, input) in [&a_in, &b_in].into_iter().enumerate() {
            while sent[side] < total[side] && !batch.is_full() && pool.available() > 64 {
                let mut m = pool.alloc().unwrap();
                let mut frame = [0u8; 64];
                frame[60..64].copy_from_slice(&(sent[side] as u32).to_be_bytes());
                m.append(&frame).unwrap();
                batch.push(m).map_err(drop).unwrap();
                sent[side] += 1;
            }
            input.enqueue(&mut batch);
            assert!(batch.is_empty(), "ring full");
        }
        for (side, output) in [&b_out, &a_out].into_iter().enumerate() {
            output.dequeue(&mut batch);
            for m in batch.drain() {
                received[side].push(u32::from_be_bytes(m.data()[60..64].try_into().unwrap()));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    job.join().unwrap();

    for (side, got) in received.iter().enumerate() {
        let want: Vec<u32> = (0..total[side] as u32).collect();
        assert_eq!(got, &want, "side {side}: every packet, once, in order");
    }
    let (sa, sb) = (a.stats().unwrap(), b.stats().unwrap());
    assert_eq!((sa.rx_packets, sa.tx_packets), (total[0] as u64, total[1] as u64));
    assert_eq!((sb.rx_packets, sb.tx_packets), (total[1] as u64, total[0] as u64));
    let xstats = a.xstats().unwrap();
    let good_rx = xstats
        .iter()
        .find(|(name, _)| name == "rx_good_packets")
        .map(|(_, v)| *v);
    assert_eq!(
        good_rx,
        Some(total[0] as u64),
        "xstats agree with the basic counters"
    );
    assert_eq!(pool.in_use(), 0, "mbufs leaked");

    // The cheap dry-pool test (the pool has no lcore caches): all but 31 mbufs out.
    assert!(!pool.shared_below(32));
    let held: Vec<_> = (0..POOL - 31).map(|_| pool.alloc().unwrap()).collect();
    assert!(pool.shared_below(32) && !pool.shared_below(31));
    drop(held);
    assert!(!pool.shared_below(32));
}
