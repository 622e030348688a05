//! A real QEMU guest on a vhost slave in mode l3 pings an address beyond a kernel router (a
//! network namespace behind the TAP phy, routing the guest's network via the master): the
//! guest's ARP for its gateway is answered by the switch with the master's MAC, the switch
//! resolves the router with ARP from the master's address, and the router's ARP for the master
//! is answered on the wire. The guest uses a MAC of its own: the switch hides it. In mode l3s
//! the same guest, allowed only what it opens, gets its replies while the router's own pings
//! and the address its egress denies go unanswered.

mod common;

use std::time::Duration;

use common::netns::Netns;
use common::qemu::{GuestPlan, Qemu};
use dpdk_wrap::Eal;
use switch::Switch;

const BOOT: Duration = Duration::from_secs(90);
const GUEST_MAC: &str = "52:54:00:00:03:11";

/// The switch in `mode` with `slave_extra` in the guest's `[[slave]]` table, and the router
/// (10.0.0.254, with 192.0.2.1 and 192.0.2.2 on its loopback) in its namespace.
struct Setup {
    dir: std::path::PathBuf,
    socket: std::path::PathBuf,
    lan: Netns,
    sw: Switch,
    _eal: Eal,
}

fn setup(test: &str, mode: &str, slave_extra: &str) -> Setup {
    let id = std::process::id() % 100_000;
    let dir = common::scratch_dir(test);
    let socket = dir.join("g.sock");
    let wire_if = format!("iq3{id}");
    let toml = format!(
        r#"
mode = "{mode}"
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
{slave_extra}"#,
        socket.display()
    );
    let (eal, sw) = common::start(test, &toml);
    let lan = Netns::new(format!("iq3lan{id}"));
    lan.adopt(&wire_if, "02:00:00:00:00:99", &["10.0.0.254/24"]);
    lan.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    lan.exec(&["ip", "addr", "add", "192.0.2.2/32", "dev", "lo"]);
    lan.exec(&["ip", "route", "add", "10.1.0.0/24", "via", "10.0.0.1"]);
    Setup {
        dir,
        socket,
        lan,
        sw,
        _eal: eal,
    }
}

/// Boots the guest, which runs `cmd` after its default route, and waits for its result.
fn guest(s: &Setup, cmd: &str, linger_s: u32) -> Qemu {
    let cmd = format!("ip route add default via 10.1.0.1 && {cmd}");
    let plan = GuestPlan {
        socket: &s.socket,
        listen: false,
        mac: GUEST_MAC,
        ip: "10.1.0.11/24",
        peer: None,
        cmd: Some(&cmd),
        linger_s,
        ipv6: false,
    };
    let mut guest = Qemu::boot(&plan, s.dir.join("g.log"));
    guest.expect_ok("the guest", BOOT);
    guest
}

#[test]
fn a_guest_in_mode_l3_pings_beyond_the_kernel_router() {
    let s = setup("qemu_l3", "l3", "");
    guest(&s, "ping -c 3 -i 0.2 -w 20 192.0.2.1", 0).kill();
    // The router knows the master, at the master's MAC only.
    let neigh = String::from_utf8_lossy(&s.lan.exec(&["ip", "neigh", "show"]).stdout).into_owned();
    assert!(
        neigh.contains("10.0.0.1 ") && neigh.contains("02:00:00:00:00:01"),
        "{neigh}"
    );
    assert!(!neigh.contains(GUEST_MAC), "the guest's MAC leaked: {neigh}");
    let stats = common::finish(s.sw);
    assert!(
        stats["g"].tx_packets >= 3 && stats["g"].rx_packets >= 3,
        "{stats:?}"
    );
}

#[test]
fn a_guest_in_mode_l3s_gets_the_replies_to_its_pings_and_nothing_unsolicited() {
    let filters = "[slave.ingress]\ndefault = \"deny\"\nestablished = true\n\
                   [slave.egress]\nrules = [{ action = \"deny\", to = \"192.0.2.2/32\" }]\n";
    let s = setup("qemu_l3s", "l3s", filters);
    // Its pings to 192.0.2.1 come back; those to 192.0.2.2 never leave.
    let mut guest = guest(
        &s,
        "ping -c 3 -i 0.2 -w 20 192.0.2.1 && ! ping -c 2 -i 0.2 -w 2 192.0.2.2",
        8,
    );
    // While it lingers, the router's own pings to it are refused.
    let router_ping = s
        .lan
        .command(&["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.1.0.11"])
        .output()
        .unwrap();
    assert!(!router_ping.status.success(), "an unsolicited ping was answered");
    guest.kill();
    let hits: Vec<(String, String, u64)> =
        s.sw.filter_reports()
            .into_iter()
            .map(|r| (r.direction.to_string(), r.rule, r.hits))
            .collect();
    let hits_of = |direction: &str, rule: &str| {
        hits.iter()
            .find(|(d, r, _)| d == direction && r == rule)
            .map_or(0, |h| h.2)
    };
    assert_eq!(
        hits_of("egress", "deny ip from any to 192.0.2.2/32"),
        2,
        "{hits:?}"
    );
    assert!(hits_of("ingress", "default deny") >= 3, "{hits:?}");
    let stats = common::finish(s.sw);
    assert!(stats["phy"].drops["filtered"] >= 3, "{stats:?}");
    assert_eq!(stats["g"].drops["filtered"], 2, "{stats:?}");
    assert!(
        stats["g"].tx_packets >= 3,
        "the replies reached the guest: {stats:?}"
    );
}
