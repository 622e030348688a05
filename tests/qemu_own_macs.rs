//! Real QEMU guests whose virtio MACs are their own, not the master's: guest a's is learned,
//! guest b's configured. Behind the phy (`net_tap`, its kernel side in a namespace this test
//! creates: the LAN, 10.0.0.1 and 2001:db8::1) the network must only ever see the master's
//! MAC, in Ethernet headers and in ARP and ND payloads, while the guests reach each other (with
//! jumbo frames too, through mergeable buffers and mbuf chains), the LAN reaches them, a frame
//! over the slave's MTU is dropped and counted, and QEMU's announcement of a migrated guest
//! becomes a gratuitous ARP and an unsolicited NA from the master's MAC.

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::netns::Netns;
use common::qemu::{GuestPlan, Qemu};

const MASTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const GUEST_A_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0xa2];
const GUEST_B_MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0xb3];
const BOOT: Duration = Duration::from_secs(90);

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A capture of the LAN side until `frames` is called.
struct Capture {
    tcpdump: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(lan: &Netns, iface: &str, file: std::path::PathBuf) -> Capture {
        let tcpdump = lan
            .command(&["tcpdump", "-i", iface, "-U", "-n", "-w", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump (package tcpdump)");
        // tcpdump needs a moment to open the interface.
        std::thread::sleep(Duration::from_millis(500));
        Capture { tcpdump, file }
    }

    fn frames(mut self) -> Vec<Vec<u8>> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.tcpdump.id().to_string()])
            .status();
        let _ = self.tcpdump.wait();
        common::pcap::read(&std::fs::read(&self.file).expect("the capture"))
    }
}

#[test]
fn guests_with_their_own_macs_are_seen_outside_with_the_master_mac_only() {
    let id = std::process::id() % 100_000;
    let dir = common::scratch_dir("qemu_own_macs");
    let (sock_a, sock_b) = (dir.join("a.sock"), dir.join("b.sock"));
    let wire_if = format!("ivm{id}");
    let toml = format!(
        "[phy]\ndevice = \"net_tap_phy,iface={wire_if}\"\nmac = \"{}\"\n\
         [[slave]]\nname = \"a\"\nvhost = {{ socket = \"{}\" }}\nmtu = 9000\n\
         addresses = [\"10.0.0.2/24\", \"2001:db8::2/64\"]\n\
         [[slave]]\nname = \"b\"\nvhost = {{ socket = \"{}\", guest_mac = \"{}\" }}\nmtu = 9000\n\
         addresses = [\"10.0.0.3/24\"]\n",
        mac_text(&MASTER_MAC),
        sock_a.display(),
        sock_b.display(),
        mac_text(&GUEST_B_MAC),
    );
    let (_eal, sw) = common::start("qemu_own_macs", &toml);
    let lan = Netns::new(format!("ivmlan{id}"));
    lan.adopt(&wire_if, "02:00:00:00:00:99", &["10.0.0.1/24", "2001:db8::1/64"]);
    let capture = Capture::start(&lan, &wire_if, dir.join("lan.pcap"));

    // b: jumbo-ready, pings the LAN, stays up for the LAN to reach it.
    let mut b = Qemu::boot(
        &GuestPlan {
            socket: &sock_b,
            listen: false,
            mac: &mac_text(&GUEST_B_MAC),
            ip: "10.0.0.3/24",
            peer: None,
            cmd: Some("ip link set eth0 mtu 9100 && ping -c 3 -i 0.2 -w 10 10.0.0.1"),
            linger_s: 60,
            ipv6: false,
        },
        dir.join("b.log"),
    );
    // a: pings b, the LAN over IPv4 and IPv6 (its NS carry its MAC as source link-layer
    // address), b with 8,000-byte pings, and b once over the slaves' MTU (must fail).
    let a_cmd = "ping -c 3 -i 0.2 -w 10 10.0.0.1 && \
                 echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && \
                 ip -6 addr add 2001:db8::2/64 dev eth0 && \
                 ping -6 -c 3 -i 0.2 -w 10 2001:db8::1 && \
                 ip link set eth0 mtu 9100 && \
                 ping -c 2 -i 0.2 -s 8000 -w 10 10.0.0.3 && \
                 ! ping -c 1 -s 9050 -w 3 10.0.0.3";
    let mut a = Qemu::boot(
        &GuestPlan {
            socket: &sock_a,
            listen: false,
            mac: &mac_text(&GUEST_A_MAC),
            ip: "10.0.0.2/24",
            peer: Some("10.0.0.3"),
            cmd: Some(a_cmd),
            linger_s: 60,
            ipv6: true,
        },
        dir.join("a.log"),
    );
    a.expect_ok("guest a", BOOT);
    b.expect_ok("guest b", BOOT);

    // The LAN reaches both guests, and has learned the master's MAC for their addresses.
    lan.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.3"]);
    lan.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "2001:db8::2"]);
    for address in ["10.0.0.2", "10.0.0.3", "2001:db8::2"] {
        let neighbour = String::from_utf8(lan.exec(&["ip", "neigh", "show", address]).stdout).unwrap();
        assert!(
            neighbour.contains(&format!("lladdr {}", mac_text(&MASTER_MAC))),
            "the LAN's neighbour entry for {address}: {neighbour}"
        );
    }

    // QEMU announces a (as after a live migration): the switch sends a GARP and an NA.
    a.announce(2);
    std::thread::sleep(Duration::from_secs(1));
    let frames = capture.frames();
    a.kill();
    b.kill();

    for guest in [GUEST_A_MAC, GUEST_B_MAC] {
        let seen = frames.iter().filter(|f| f.windows(6).any(|w| w == guest)).count();
        assert_eq!(seen, 0, "{} seen on the LAN in {seen} frames", mac_text(&guest));
    }
    let from_master = frames.iter().filter(|f| f[6..12] == MASTER_MAC).count();
    assert!(
        from_master >= 10,
        "only {from_master} frames from the master's MAC"
    );
    let garp = frames.iter().any(|f| {
        let request = [
            &[0xff; 6][..],
            &MASTER_MAC,
            &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1],
        ]
        .concat();
        f.starts_with(&request)
            && f[22..28] == MASTER_MAC
            && f[28..32] == [10, 0, 0, 2]
            && f[38..42] == [10, 0, 0, 2]
    });
    assert!(garp, "no gratuitous ARP for 10.0.0.2 from the master's MAC");
    let target: [u8; 16] = "2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let na = frames.iter().any(|f| {
        f.len() >= 86
            && f[0..6] == [0x33, 0x33, 0, 0, 0, 1]
            && f[12..14] == [0x86, 0xdd]
            && f[54] == 136
            && f[62..78] == target
    });
    assert!(na, "no unsolicited NA for 2001:db8::2");

    let stats = common::finish(sw);
    assert!(
        stats["b"].drops["mtu"] >= 1,
        "the 9,050-byte ping was not dropped: {stats:?}"
    );
    assert!(
        stats["a"].drops["rarp"] >= 1,
        "no RARP from QEMU's announcement: {stats:?}"
    );
    // a's two 8,000-byte echo requests reached b.
    assert!(stats["b"].tx_bytes >= 2 * 8042, "{stats:?}");
}
