//! Packet capture of a running switch with DPDK's own `dpdk-dumpcap` (a secondary process
//! with the switch's file prefix, so the switch runs without `--in-memory` here): the frames
//! the switch sends to a device slave are captured, and are the frames the phy received for
//! that slave's address.

mod common;

use std::process::Command;

use common::*;

#[test]
fn dpdk_dumpcap_captures_what_the_switch_sends_to_a_device_slave() {
    let dir = scratch_dir("capture");
    let path = |name: &str| dir.join(name).display().to_string();
    let prefix = file_prefix("capture");
    let to_a = udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 11], b"to a, captured");
    let to_b = udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 12], b"to b");
    std::fs::write(path("phy.pcap"), pcap::write(&[to_a.clone(), to_b])).unwrap();
    let config = format!(
        r#"lcores = [1]
[eal]
args = ["--lcores", "0@0,1@1", "--no-pci", "--file-prefix", "{prefix}", "--log-level", "*:warning"]
[phy]
device = "net_pcap0,rx_pcap={},infinite_rx=1"
mac = "02:00:00:00:00:01"
[[slave]]
name = "a"
device = "net_null1,no-rx=1"
addresses = ["10.0.0.11/24"]
[[slave]]
name = "b"
device = "net_null2,no-rx=1"
addresses = ["10.0.0.12/24"]
"#,
        path("phy.pcap")
    );
    std::fs::write(path("switch.toml"), config).unwrap();
    let mut binary = Command::new(env!("CARGO_BIN_EXE_ipvlan-switch"));
    binary.args(["--config", &path("switch.toml"), "--log-level", "warn"]);
    let switch = SwitchProcess::spawn(binary);
    switch.wait_ready();

    let capture = Command::new("timeout")
        .args([
            "30",
            "dpdk-dumpcap",
            &format!("--file-prefix={prefix}"),
            "-i",
            "net_null1",
        ])
        .args(["-c", "8", "-P", "-q", "-w", &path("a.pcap")])
        .output()
        .unwrap();
    let out = switch.stop("INT");
    // A primary that shares its memory leaves its hugepage files behind.
    for file in std::fs::read_dir("/dev/hugepages")
        .into_iter()
        .flatten()
        .flatten()
    {
        if file
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{prefix}map_"))
        {
            let _ = std::fs::remove_file(file.path());
        }
    }
    assert!(
        capture.status.success(),
        "dpdk-dumpcap: {}{}",
        String::from_utf8_lossy(&capture.stdout),
        String::from_utf8_lossy(&capture.stderr)
    );
    let captured = pcap::read(&std::fs::read(path("a.pcap")).unwrap());
    // dumpcap stops after the burst that reached its count.
    assert!(captured.len() >= 8, "{} frames captured: {out}", captured.len());
    assert!(
        captured.iter().all(|frame| *frame == to_a),
        "not the frames to a: {captured:02x?}"
    );
}
