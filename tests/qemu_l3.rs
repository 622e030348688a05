//! A real QEMU guest on a vhost slave in mode l3 pings an address beyond a kernel router (a
//! network namespace behind the TAP phy, routing the guest's network via the master): the
//! guest's ARP for its gateway is answered by the switch with the master's MAC, the switch
//! resolves the router with ARP from the master's address, and the router's ARP for the master
//! is answered on the wire. The guest uses a MAC of its own: the switch hides it.

mod common;

use std::time::Duration;

use common::netns::Netns;
use common::qemu::{GuestPlan, Qemu};

const BOOT: Duration = Duration::from_secs(90);

#[test]
fn a_guest_in_mode_l3_pings_beyond_the_kernel_router() {
    let id = std::process::id() % 100_000;
    let dir = common::scratch_dir("qemu_l3");
    let socket = dir.join("g.sock");
    let wire_if = format!("iq3{id}");
    let toml = format!(
        r#"
mode = "l3"
[phy]
device = "net_tap_phy,iface={wire_if}"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]
[[route]]
to = "0.0.0.0/0"
via = "10.0.0.254"
[[slave]]
name = "g"
vhost = {{ socket = "{}" }}
addresses = ["10.1.0.11/24"]
"#,
        socket.display()
    );
    let (_eal, sw) = common::start("qemu_l3", &toml);
    let lan = Netns::new(format!("iq3lan{id}"));
    lan.adopt(&wire_if, "02:00:00:00:00:99", &["10.0.0.254/24"]);
    lan.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    lan.exec(&["ip", "route", "add", "10.1.0.0/24", "via", "10.0.0.1"]);

    let mut guest = Qemu::boot(
        &GuestPlan {
            socket: &socket,
            listen: false,
            mac: "52:54:00:00:03:11",
            ip: "10.1.0.11/24",
            peer: None,
            cmd: Some("ip route add default via 10.1.0.1 && ping -c 3 -i 0.2 -w 20 192.0.2.1"),
            linger_s: 0,
            ipv6: false,
        },
        dir.join("g.log"),
    );
    guest.expect_ok("the guest", BOOT);
    guest.kill();
    // The router knows the master, at the master's MAC only.
    let neigh = String::from_utf8_lossy(&lan.exec(&["ip", "neigh", "show"]).stdout).into_owned();
    assert!(
        neigh.contains("10.0.0.1 ") && neigh.contains("02:00:00:00:00:01"),
        "{neigh}"
    );
    assert!(
        !neigh.contains("52:54:00:00:03:11"),
        "the guest's MAC leaked: {neigh}"
    );
    let stats = common::finish(sw);
    assert!(
        stats["g"].tx_packets >= 3 && stats["g"].rx_packets >= 3,
        "{stats:?}"
    );
}
