//! A thousand slaves on one switch: 1,020 ring slaves (which cost no ethdev) and 4 device
//! slaves, within 1 GiB of hugepages. Frames reach a sample of them byte for byte, and every
//! mbuf is back in the pool at the end.

mod common;

use common::*;

const RING_SLAVES: usize = 1020;
const DEVICE_SLAVES: usize = 4;

/// Slave `i`'s address: 10.1.i/256.i%256.
fn address(i: usize) -> [u8; 4] {
    [10, 1, (i >> 8) as u8, (i & 0xff) as u8]
}

/// The process's hugepage memory in MiB, as the kernel accounts it.
fn hugepage_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("HugetlbPages:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("HugetlbPages in /proc/self/status");
    kib / 1024
}

#[test]
fn a_thousand_and_twenty_four_slaves_forward_within_a_gigabyte() {
    let mut toml = String::from("[phy]\nring = \"phy\"\nmac = \"02:00:00:00:00:01\"\n");
    for i in 0..RING_SLAVES + DEVICE_SLAVES {
        let [a, b, c, d] = address(i);
        let backing = if i < RING_SLAVES {
            format!("ring = \"r{i}\"")
        } else {
            format!("device = \"net_null{},no-rx=1\"", i - RING_SLAVES)
        };
        toml += &format!("[[slave]]\nname = \"s{i}\"\n{backing}\naddresses = [\"{a}.{b}.{c}.{d}/16\"]\n");
    }
    let (_eal, sw) = start("scale", &toml);
    let huge = hugepage_mib();
    println!(
        "{} slaves: pool {} mbufs, {huge} MiB of hugepages",
        RING_SLAVES + DEVICE_SLAVES,
        sw.pool().capacity()
    );
    assert!(huge <= 1024, "{huge} MiB of hugepages");

    let sample = [0, 1, 255, 256, 511, 777, RING_SLAVES - 1];
    let to = |i: usize| {
        udp4(
            MASTER,
            OUTSIDE,
            [192, 0, 2, 1],
            address(i),
            &(i as u32).to_be_bytes(),
        )
    };
    let devices = RING_SLAVES..RING_SLAVES + DEVICE_SLAVES;
    let frames: Vec<Vec<u8>> = sample.iter().copied().chain(devices.clone()).map(to).collect();
    inject(&sw, "phy", &frames);
    for i in sample {
        assert_eq!(take(&sw, &format!("s{i}")), vec![to(i)], "slave s{i}");
    }
    for i in [2, 300, 1000] {
        assert!(take(&sw, &format!("s{i}")).is_empty(), "slave s{i}");
    }
    let stats = finish(sw);
    for i in devices {
        let name = format!("s{i}");
        assert_eq!(
            (stats[&name].tx_packets, stats[&name].tx_bytes),
            (1, to(i).len() as u64),
            "{name}"
        );
    }
    assert_eq!(stats["phy"].rx_packets, frames.len() as u64);
    let delivered: u64 = stats.values().map(|port| port.tx_packets).sum();
    assert_eq!(delivered, frames.len() as u64);
}

#[test]
fn a_thousand_vhost_slaves_start_in_seconds_within_a_gigabyte() {
    const VHOST_SLAVES: usize = 1000;
    let dir = scratch_dir("vhost_scale");
    let mut toml = String::from("[phy]\nring = \"phy\"\nmac = \"02:00:00:00:00:01\"\n[[slave]]\nname = \"r\"\nring = \"r\"\naddresses = [\"10.2.0.1/16\"]\n");
    for i in 0..VHOST_SLAVES {
        let [a, b, c, d] = address(i);
        let socket = dir.join(format!("v{i}.sock"));
        toml += &format!(
            "[[slave]]\nname = \"v{i}\"\nvhost = {{ socket = \"{}\" }}\naddresses = [\"{a}.{b}.{c}.{d}/16\"]\n",
            socket.display()
        );
    }
    let started = std::time::Instant::now();
    let (_eal, sw) = start("vhost_scale", &toml);
    let seconds = started.elapsed().as_secs_f64();
    let huge = hugepage_mib();
    println!("{VHOST_SLAVES} vhost slaves: started in {seconds:.1} s, {huge} MiB of hugepages");
    assert!(seconds < 30.0 && huge <= 1024);
    assert!(dir.join("v999.sock").exists());
    assert_eq!(sw.is_up("v0"), Some(false), "no guest: down");
    // The other ports forward as before.
    let to_r = udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 2, 0, 1], b"to r");
    inject(&sw, "phy", std::slice::from_ref(&to_r));
    assert_eq!(take(&sw, "r"), vec![to_r]);
    finish(sw);
    assert!(!dir.join("v0.sock").exists(), "sockets removed at exit");
}
