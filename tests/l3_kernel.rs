//! Mode l3 between real kernel stacks: the phy's TAP has its kernel side in a "LAN" namespace
//! acting as the upstream router (10.0.0.254, 2001:db8::fe; an address beyond it on its
//! loopback; the slaves' network routed via the master's address, as L3 ipvlan needs), and
//! the slave is a TAP whose kernel side, sharing the master's MAC, is in a "guest" namespace
//! on another network (10.1.0.11, 2001:db8:1::11, default routes via the switch). The guest
//! pings the address beyond the router, IPv4 and IPv6: its ARP/NS for its gateway are answered
//! by the switch, the switch resolves the router (ARP, ND) from the master's address, and the
//! router's ARP/NS for the master are answered by the switch; all real.

mod common;

use common::netns::Netns;

#[test]
fn a_slave_reaches_an_address_beyond_the_kernel_router_both_families() {
    let id = std::process::id() % 100_000;
    let (wire_if, slave_if) = (format!("i3w{id}"), format!("i3s{id}"));
    let toml = format!(
        r#"
mode = "l3"
[phy]
device = "net_tap_phy,iface={wire_if}"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]
[[route]]
to = "0.0.0.0/0"
via = "10.0.0.254"
[[route]]
to = "::/0"
via = "2001:db8::fe"
[[slave]]
name = "s"
device = "net_tap_s,iface={slave_if}"
addresses = ["10.1.0.11/24", "2001:db8:1::11/64"]
"#
    );
    let (_eal, sw) = common::start("l3_kernel", &toml);
    let lan = Netns::new(format!("i3lan{id}"));
    let guest = Netns::new(format!("i3guest{id}"));
    lan.adopt(
        &wire_if,
        "02:00:00:00:00:99",
        &["10.0.0.254/24", "2001:db8::fe/64"],
    );
    lan.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    lan.exec(&["ip", "addr", "add", "2001:db8:ff::1/128", "dev", "lo"]);
    lan.exec(&["ip", "route", "add", "10.1.0.0/24", "via", "10.0.0.1"]);
    lan.exec(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:1::/64",
        "via",
        "2001:db8::1",
    ]);
    // The slave shares the master's MAC; its gateway is any address: the switch answers.
    guest.adopt(
        &slave_if,
        "02:00:00:00:00:01",
        &["10.1.0.11/24", "2001:db8:1::11/64"],
    );
    guest.exec(&["ip", "route", "add", "default", "via", "10.1.0.1"]);
    guest.exec(&["ip", "-6", "route", "add", "default", "via", "2001:db8:1::1"]);

    guest.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "3", "192.0.2.1"]);
    guest.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "3", "2001:db8:ff::1"]);
    // The router learnt the master at the master's MAC.
    let neigh = lan.exec(&["ip", "neigh", "show", "10.0.0.1"]);
    let neigh = String::from_utf8_lossy(&neigh.stdout).into_owned();
    assert!(
        neigh.contains("02:00:00:00:00:01"),
        "the router's entry for the master: {neigh}"
    );

    // The switch resolved the router in both families.
    let neighbours = sw.neighbour_reports();
    for ip in ["10.0.0.254", "2001:db8::fe"] {
        let entry = neighbours
            .iter()
            .find(|n| n.ip == ip)
            .unwrap_or_else(|| panic!("{ip}: {neighbours:?}"));
        assert_eq!(
            (entry.mac.as_deref(), entry.state),
            (Some("02:00:00:00:00:99"), "reachable")
        );
    }
    let resolver = sw.resolver_stats().unwrap();
    assert!(resolver.learned >= 2 && resolver.released >= 2, "{resolver:?}");
    let stats = common::finish(sw);
    assert!(
        stats["s"].rx_packets >= 6 && stats["s"].tx_packets >= 6,
        "{stats:?}"
    );
}
