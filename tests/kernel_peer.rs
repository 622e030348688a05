//! The switch between real kernel stacks: its phy and one slave are `net_tap` devices whose
//! kernel sides sit in two network namespaces this test creates. The "LAN" namespace pings the
//! slave namespace's address through the switch (real ARP, real ICMP) and back, in L2 mode with
//! the slave sharing the phy's MAC, as an ipvlan slave does. The phy has two rx queues (the
//! kernel spreads flows over the tap's queues), both polled.

mod common;

use common::netns::Netns;

#[test]
fn kernel_pings_a_slave_through_the_switch_and_back() {
    let id = std::process::id() % 100_000;
    let (wire_if, slave_if) = (format!("ivw{id}"), format!("ivs{id}"));
    let toml = format!(
        r#"
mode = "l2"
[phy]
device = "net_tap_phy,iface={wire_if}"
mac = "02:00:00:00:00:01"
queues = 2
[[slave]]
name = "s"
device = "net_tap_s,iface={slave_if}"
addresses = ["10.99.0.11/24"]
"#
    );
    let (_eal, sw) = common::start("kernel_peer", &toml);
    let lan = Netns::new(format!("ivlan{id}"));
    let guest = Netns::new(format!("ivguest{id}"));
    // A tap's kernel side starts with the PMD's MAC, the master's: the LAN peer needs its own.
    lan.adopt(&wire_if, "02:00:00:00:00:99", &["10.99.0.1/24"]);
    // The slave shares the master's MAC.
    guest.adopt(&slave_if, "02:00:00:00:00:01", &["10.99.0.11/24"]);

    lan.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.11"]);
    guest.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.1"]);
    // The LAN learnt the slave's address at the shared MAC: ARP answered through the switch.
    let neigh = lan.exec(&["ip", "neigh", "show", "10.99.0.11"]);
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains("02:00:00:00:00:01"),
        "neighbour entry: {}",
        String::from_utf8_lossy(&neigh.stdout)
    );

    let stats = common::finish(sw);
    // 6 echo requests/replies each way at least, plus ARP.
    assert!(stats["phy"].rx_packets >= 6, "{stats:?}");
    assert!(stats["s"].tx_packets >= 6, "{stats:?}");
    assert!(stats["s"].rx_packets >= 6, "{stats:?}");
    assert!(stats["phy"].tx_packets >= 6, "{stats:?}");
}
