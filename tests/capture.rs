//! Packet capture of a running switch with DPDK's own `dpdk-dumpcap` (a secondary process
//! with the switch's file prefix, so the switch runs without `--in-memory` here): the frames
//! the switch sends to a device slave, and (through `ctl capture`, which copies a port's frames
//! to a capture device) to a ring slave, which is no ethdev, are captured; they are the frames
//! the phy received for that slave's address.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A switch whose phy replays, forever, one frame to each of 10.0.0.11 (device slave a) and
/// 10.0.0.21 (ring slave r). Returns it, its scratch directory and the frames.
fn start(test: &str) -> (SwitchProcess, PathBuf, [Vec<u8>; 2]) {
    let dir = scratch_dir(test);
    let frames = [
        udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 11], b"to a, captured"),
        udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 21], b"to r, captured"),
    ];
    std::fs::write(dir.join("phy.pcap"), pcap::write(&frames)).unwrap();
    let config = format!(
        r#"lcores = [1]
[eal]
args = ["--lcores", "0@0,1@1", "--no-pci", "--file-prefix", "{}", "--log-level", "*:warning"]
[control]
socket = "{}"
[phy]
device = "net_pcap0,rx_pcap={},infinite_rx=1"
mac = "02:00:00:00:00:01"
[[slave]]
name = "a"
device = "net_null1,no-rx=1"
addresses = ["10.0.0.11/24"]
[[slave]]
name = "r"
ring = "r"
addresses = ["10.0.0.21/24"]
"#,
        file_prefix(test),
        dir.join("ctl.sock").display(),
        dir.join("phy.pcap").display()
    );
    std::fs::write(dir.join("switch.toml"), config).unwrap();
    let mut binary = Command::new(env!("CARGO_BIN_EXE_ipvlan-switch"));
    binary
        .arg("--config")
        .arg(dir.join("switch.toml"))
        .args(["--log-level", "warn"]);
    let switch = SwitchProcess::spawn(binary);
    switch.wait_ready();
    (switch, dir, frames)
}

/// `dpdk-dumpcap` on `device` of the switch of `test` until 8 frames, into `file` (pcap).
fn dumpcap(test: &str, device: &str, file: &Path) -> Output {
    Command::new("timeout")
        .args([
            "30",
            "dpdk-dumpcap",
            &format!("--file-prefix={}", file_prefix(test)),
            "-i",
            device,
        ])
        .args(["-c", "8", "-P", "-q", "-w"])
        .arg(file)
        .output()
        .unwrap()
}

/// Stops the switch, removes the hugepage files a primary that shares its memory leaves, and
/// returns the frames `dumpcap` captured (at least 8: it stops after the burst that reached
/// its count).
fn captured(switch: SwitchProcess, test: &str, capture: Output, file: &Path) -> Vec<Vec<u8>> {
    let out = switch.stop("INT");
    let prefix = format!("{}map_", file_prefix(test));
    for file in std::fs::read_dir("/dev/hugepages")
        .into_iter()
        .flatten()
        .flatten()
    {
        if file.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(file.path());
        }
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        capture.status.success(),
        "dpdk-dumpcap: {}{}",
        text(&capture.stdout),
        text(&capture.stderr)
    );
    let frames = pcap::read(&std::fs::read(file).unwrap());
    assert!(frames.len() >= 8, "{} frames captured: {out}", frames.len());
    frames
}

#[test]
fn dpdk_dumpcap_captures_what_the_switch_sends_to_a_device_slave() {
    let (switch, dir, [to_a, _]) = start("capture");
    let file = dir.join("a.pcap");
    let capture = dumpcap("capture", "net_null1", &file);
    let frames = captured(switch, "capture", capture, &file);
    assert!(
        frames.iter().all(|frame| *frame == to_a),
        "not the frames to a: {frames:02x?}"
    );
}

#[test]
fn ctl_capture_copies_a_ring_slave_to_a_device_dpdk_dumpcap_reads() {
    let (switch, dir, [_, to_r]) = start("capture-ring");
    let ctl = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ipvlan-switch"));
        command
            .arg("ctl")
            .arg("--socket")
            .arg(dir.join("ctl.sock"))
            .args(args);
        String::from_utf8(output_ok(&mut command, "ctl").stdout).unwrap()
    };
    let started = ctl(&["capture", "start", "r"]);
    assert!(started.contains("dpdk-dumpcap --file-prefix="), "{started}");
    let file = dir.join("r.pcap");
    let capture = dumpcap("capture-ring", "net_null_capture", &file);
    assert_eq!(ctl(&["capture", "stop"]), "capture of r stopped\n");
    let frames = captured(switch, "capture-ring", capture, &file);
    assert!(
        frames.iter().all(|frame| *frame == to_r),
        "not the frames to r: {frames:02x?}"
    );
}
