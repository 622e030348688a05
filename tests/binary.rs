//! The ipvlan-switch binary end to end on pcap vdevs: it reads frames from a pcap phy, writes
//! each slave's frames to its own pcap, stops on SIGINT with the counters in JSON, and reports
//! a device DPDK refuses with the file, line and key.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn forwards_pcap_to_pcap_and_reports_counters_on_sigint() {
    let dir = scratch_dir("binary");
    let path = |name: &str| dir.join(name).display().to_string();
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    let to_b = udp6(MASTER, OUTSIDE, v6(1), v6(0x12), b"to b");
    let bcast = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 12]);
    let nobody = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 99], b"nobody");
    std::fs::write(
        path("phy.pcap"),
        pcap::write(&[to_a.clone(), to_b.clone(), bcast.clone(), nobody]),
    )
    .unwrap();
    std::fs::write(path("empty.pcap"), pcap::write(&[])).unwrap();
    let slave = |name: &str, n: u8, addresses: &str| {
        format!(
            "[[slave]]\nname = \"{name}\"\ndevice = \"net_pcap{n},rx_pcap={},tx_pcap={}\"\naddresses = [{addresses}]\n",
            path("empty.pcap"),
            path(&format!("{name}.pcap"))
        )
    };
    let config = format!(
        "mode = \"l2\"\nlcores = [1]\n[phy]\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={}\"\nmac = \"02:00:00:00:00:01\"\n{}{}",
        path("phy.pcap"),
        path("phy-out.pcap"),
        slave("a", 1, "\"10.0.0.11/24\""),
        slave("b", 2, "\"10.0.0.12/24\", \"2001:db8::12/64\""),
    );
    std::fs::write(path("switch.toml"), config).unwrap();

    let mut switch = switch_binary(&dir.join("switch.toml"), "binary");
    switch.arg("--stats-out").arg(path("stats.json"));
    let switch = SwitchProcess::spawn(switch);
    switch.wait_ready();
    // The pcap is read at once; give the lcore time to forward it.
    std::thread::sleep(Duration::from_secs(1));
    let table = switch.stop("INT");
    assert!(
        table.contains("rx_packets") && table.contains("phy"),
        "no counter table: {table}"
    );

    let read = |name: &str| pcap::read(&std::fs::read(path(name)).unwrap());
    assert_eq!(read("a.pcap"), vec![to_a, bcast.clone()]);
    assert_eq!(read("b.pcap"), vec![to_b, bcast]);
    assert!(read("phy-out.pcap").is_empty());

    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("stats.json")).unwrap()).unwrap();
    let ports = &stats["ports"];
    assert_eq!(ports["phy"]["rx_packets"], 4);
    assert_eq!(ports["phy"]["drops"]["no_owner"], 1);
    assert_eq!(ports["phy"]["drops"]["no_host"], 1);
    assert_eq!(ports["a"]["tx_packets"], 2);
    assert_eq!(ports["b"]["multicast"], 1);
    // The one forwarding lcore read the 4 frames, in busy rounds.
    let lcore = &stats["lcores"][0];
    assert_eq!(
        (lcore["lcore"].as_u64(), lcore["packets"].as_u64()),
        (Some(1), Some(4)),
        "{stats}"
    );
    assert!(lcore["busy_cycles"].as_u64() > Some(0) && lcore["idle_cycles"].as_u64() > Some(0));
    assert!(table.contains("lcore 1: busy "), "no lcore line: {table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_device_dpdk_refuses_is_reported_with_file_line_and_key() {
    let dir = scratch_dir("bad");
    let config = dir.join("bad.toml");
    std::fs::write(
        &config,
        "lcores = [1]\n[phy]\ndevice = \"net_null0\"\n[[slave]]\nname = \"a\"\ndevice = \"net_nosuchdriver0\"\n",
    )
    .unwrap();
    let out = switch_binary(&config, "bad").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:6: slave[0].device", config.display())),
        "stderr: {stderr}"
    );
    // And says why, in words a user can act on.
    assert!(
        stderr.contains("no DPDK driver took \"net_nosuchdriver0\""),
        "stderr: {stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_vhost_slaves_than_the_open_file_limit_holds_are_refused_with_the_fix() {
    let dir = scratch_dir("nofile");
    let config = dir.join("many.toml");
    let mut toml = String::from("[phy]\ndevice = \"net_null0\"\n");
    for i in 0..100 {
        let socket = dir.join(format!("v{i}.sock"));
        toml += &format!(
            "[[slave]]\nname = \"v{i}\"\nvhost = {{ socket = \"{}\" }}\n",
            socket.display()
        );
    }
    std::fs::write(&config, toml).unwrap();
    let switch = switch_binary(&config, "nofile");
    let args: Vec<String> = switch
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    // A limit of 512 cannot hold 100 vhost slaves (4 files each) and the rest.
    let script = format!(
        "ulimit -n 512 && exec '{}' {}",
        switch.get_program().to_string_lossy(),
        args.join(" ")
    );
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("100 vhost slaves need about 656 open files and the limit is 512: raise it"),
        "stderr: {stderr}"
    );
    assert!(
        !dir.join("v0.sock").exists(),
        "refused before any socket was made"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
