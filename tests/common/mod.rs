//! Shared harness of the integration tests: an EAL per test process (nextest runs each test in
//! its own process), a switch from an inline TOML configuration, frames in and out of its
//! ring-backed ports.
#![allow(dead_code)] // each test binary uses its own subset of the harness

pub mod netns;
pub mod pcap;
pub mod qemu;
pub mod testpmd;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use conf::Config;
use dpdk_wrap::{Eal, MbufBatch};
use switch::counters::PortTotals;
use switch::Switch;

/// EAL arguments for a test: lcore 0 (main) and 1 on CPUs 0 and 1, no PCI probing, a private
/// file prefix, memory released on exit.
pub fn eal_args(test: &str) -> Vec<String> {
    eal_args_with_lcores(test, "0@0,1@1")
}

/// The EAL file prefix of a test's DPDK process (its runtime directory's name).
pub fn file_prefix(test: &str) -> String {
    format!("ipvsw-{test}-{}", std::process::id())
}

/// As `eal_args`, with an EAL `--lcores` map (lcore@cpu,...).
pub fn eal_args_with_lcores(test: &str, lcore_map: &str) -> Vec<String> {
    [
        "--lcores",
        lcore_map,
        "--no-pci",
        "--in-memory",
        "--file-prefix",
        &file_prefix(test),
        "--log-level",
        "*:warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Parses `toml` (which must not contain `lcores` or `[eal]`), inits the EAL and starts a switch
/// forwarding on lcore 1.
pub fn start(test: &str, toml: &str) -> (Eal, Switch) {
    start_on_lcores(test, toml, "0@0,1@1", &[1])
}

/// As `start`, forwarding on `lcores` of the EAL lcore map `lcore_map`.
pub fn start_on_lcores(test: &str, toml: &str, lcore_map: &str, lcores: &[u32]) -> (Eal, Switch) {
    let text = format!("lcores = {lcores:?}\n{toml}");
    let config = Config::parse(&text, &format!("{test}.toml")).expect("test configuration");
    let eal = Eal::init(&eal_args_with_lcores(test, lcore_map)).expect("EAL init");
    let switch = Switch::start(&eal, &config).expect("switch start");
    (eal, switch)
}

/// The ipvlan-switch binary with configuration file `config` and a test's EAL arguments.
pub fn switch_binary(config: &std::path::Path, test: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ipvlan-switch"));
    cmd.arg("--config")
        .arg(config)
        .arg("--eal-args")
        .arg(eal_args(test).join(" "))
        .arg("--log-level")
        .arg("warn");
    cmd
}

/// A running switch binary, its stdout read as it comes (so a full pipe never blocks it).
pub struct SwitchProcess {
    child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    ready: std::sync::mpsc::Receiver<()>,
}

/// A test that fails before `stop` must not leave its switch spinning on a core.
impl Drop for SwitchProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl SwitchProcess {
    /// Spawns `switch` (from `switch_binary`) with its stdout piped.
    pub fn spawn(mut switch: std::process::Command) -> SwitchProcess {
        let mut child = switch.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let (ready, stdout) =
            testpmd::watch_stdout(&mut child, |line| line.starts_with("ipvlan-switch: forwarding"));
        SwitchProcess {
            child,
            stdout: Some(stdout),
            ready,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (up to 20 s) for the line the binary prints once all its ports are started.
    pub fn wait_ready(&self) {
        let ready = self.ready.recv_timeout(Duration::from_secs(20));
        assert!(ready.is_ok(), "the switch never said it forwards");
    }

    /// Stops the switch with SIG`signal` (INT or TERM); panics unless it exits successfully
    /// within 20 s. Returns all it printed on stdout.
    pub fn stop(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the switch did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status}");
        self.stdout.take().expect("stopped once").join().unwrap()
    }
}

/// Polls `done` until it holds, for 20 s at most; then panics with `failure()`'s text.
pub fn wait_until(mut done: impl FnMut() -> bool, failure: impl FnOnce() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{}", failure());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Offers frames to the switch on a ring-backed port, as if that port received them.
pub fn inject(switch: &Switch, port: &str, frames: &[Vec<u8>]) {
    let (into, _) = switch
        .rings(port)
        .unwrap_or_else(|| panic!("{port} is not ring-backed"));
    for chunk in frames.chunks(dpdk_wrap::BURST) {
        let mut batch = MbufBatch::new();
        for f in chunk {
            let mut m = switch.pool().alloc().expect("mbuf");
            m.append(f).expect("frame fits an mbuf");
            assert!(batch.push(m).is_ok());
        }
        while !batch.is_empty() {
            into.enqueue(&mut batch);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while into.count() > 0 {
        assert!(Instant::now() < deadline, "the switch does not poll {port}");
        std::thread::sleep(Duration::from_millis(1));
    }
    settle(switch);
}

/// Offers `frame` on a ring-backed port as a driver receives a jumbo frame into 2 KB buffers:
/// a chain of its first 2,048 bytes and the rest.
pub fn inject_chained(switch: &Switch, port: &str, frame: &[u8]) {
    let mut head = switch.pool().alloc().expect("mbuf");
    head.append(&frame[..2048]).unwrap();
    let mut tail = switch.pool().alloc().expect("mbuf");
    tail.append(&frame[2048..]).unwrap();
    assert!(head.chain(tail).is_ok());
    assert_eq!((head.segments(), head.pkt_len() as usize), (2, frame.len()));
    let mut batch = MbufBatch::new();
    assert!(batch.push(head).is_ok());
    let (into, _) = switch
        .rings(port)
        .unwrap_or_else(|| panic!("{port} is not ring-backed"));
    assert_eq!(into.enqueue(&mut batch), 1);
    settle(switch);
}

/// Waits until the lcore has finished its last burst: the counters stay still for 100 ms
/// (five samples; the lcore may share its CPU with another test's and be preempted briefly).
pub fn settle(switch: &Switch) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = switch.stats();
    let mut still = 0;
    while still < 5 {
        std::thread::sleep(Duration::from_millis(20));
        let now = switch.stats();
        still = if now == last { still + 1 } else { 0 };
        assert!(Instant::now() < deadline, "switch never settled");
        last = now;
    }
}

/// Takes every frame the switch sent out of a ring-backed port.
pub fn take(switch: &Switch, port: &str) -> Vec<Vec<u8>> {
    let (_, out) = switch
        .rings(port)
        .unwrap_or_else(|| panic!("{port} is not ring-backed"));
    let mut frames = Vec::new();
    let mut batch = MbufBatch::new();
    while out.dequeue(&mut batch) > 0 {
        frames.extend(batch.drain().map(|m| m.to_vec()));
    }
    frames
}

/// Stops the switch and checks that every mbuf came back to the pool.
pub fn finish(switch: Switch) -> BTreeMap<String, PortTotals> {
    let mut switch = switch;
    switch.stop().expect("stop");
    let stats = switch.stats();
    assert_eq!(switch.shutdown().expect("shutdown"), 0, "mbufs leaked");
    stats
}

/// Runs a command to its end; panics with its output unless it succeeded.
pub fn output_ok(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh directory for one test's files.
pub fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ipvsw-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Ring-backed phy and host, and three ring slaves: a (10.0.0.11, 2001:db8::11), b
/// (10.0.0.12, 2001:db8::12, member of 01:00:5e:01:01:01), c (10.0.0.13, MTU 500).
pub const THREE_SLAVES: &str = r#"
[phy]
ring = "phy"
mac = "02:00:00:00:00:01"
[host]
ring = "host"
[[slave]]
name = "a"
ring = "a"
addresses = ["10.0.0.11/24", "2001:db8::11/64"]
[[slave]]
name = "b"
ring = "b"
addresses = ["10.0.0.12/24", "2001:db8::12/64"]
multicast = ["01:00:5e:01:01:01"]
[[slave]]
name = "c"
ring = "c"
addresses = ["10.0.0.13"]
mtu = 500
"#;

pub const MASTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const OUTSIDE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet + IPv4 + UDP frame built with etherparse.
pub fn udp4(dst_mac: [u8; 6], src_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    udp4_ports(dst_mac, src_mac, src, dst, UDP_PORTS, payload)
}

/// The (source, destination) UDP ports of `udp4` and `udp6`.
pub const UDP_PORTS: (u16, u16) = (4000, 5000);

/// As `udp4`, with the given (source, destination) UDP ports.
pub fn udp4_ports(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    (src_port, dst_port): (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .udp(src_port, dst_port);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap();
    out
}

/// An Ethernet + IPv6 + UDP frame built with etherparse.
pub fn udp6(dst_mac: [u8; 6], src_mac: [u8; 6], src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(src, dst, 64)
        .udp(UDP_PORTS.0, UDP_PORTS.1);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap();
    out
}

/// An ARP request or reply (op 1 / 2) for IPv4 over Ethernet, padded to the 60-byte minimum.
pub fn arp(dst_mac: [u8; 6], src_mac: [u8; 6], op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let target_mac = if op == 1 { [0; 6] } else { dst_mac };
    let packet = etherparse::ArpPacket::new(
        etherparse::ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        etherparse::ArpOperation(op),
        &src_mac,
        &sender,
        &target_mac,
        &target,
    )
    .unwrap();
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .arp(packet)
        .write(&mut out)
        .unwrap();
    out.resize(60, 0);
    out
}

/// 2001:db8::`last`
pub fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = last;
    a
}
