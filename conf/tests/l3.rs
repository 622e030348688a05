//! Mode l3's configuration: the master's addresses, routes, static neighbours, each rule's
//! error with its line and key.

use std::net::IpAddr;

mod common;

use common::assert_error;
use conf::{Config, NeighbourConf, RouteConf};

/// Lines 1-4: mode, a ring phy with the master's two addresses.
const PHY: &str = "mode = \"l3\"\n[phy]\nring = \"p\"\naddresses = [\"10.0.0.1/24\", \"2001:db8::1/64\"]\n";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn addresses_routes_and_neighbours_are_read() {
    let text = format!(
        "{PHY}proxy_neighbour = true\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n\
         [[route]]\nto = \"2001:db8:9::/48\"\nvia = \"2001:db8::fe\"\n\
         [[neighbour]]\nip = \"10.0.0.254\"\nmac = \"02:00:00:00:00:fe\"\n"
    );
    let config = Config::parse(&text, "s.toml").unwrap();
    assert_eq!(
        config.l3.addresses,
        [(ip("10.0.0.1"), 24), (ip("2001:db8::1"), 64)]
    );
    assert!(config.l3.proxy_neighbour);
    assert_eq!(
        config.l3.routes,
        [
            RouteConf {
                to: (ip("0.0.0.0"), 0),
                via: ip("10.0.0.254")
            },
            RouteConf {
                to: (ip("2001:db8:9::"), 48),
                via: ip("2001:db8::fe")
            },
        ]
    );
    assert_eq!(
        config.l3.neighbours,
        [NeighbourConf {
            ip: ip("10.0.0.254"),
            mac: [2, 0, 0, 0, 0, 0xfe]
        }]
    );
    // And back through the file format.
    let again = Config::parse(&config.to_toml(), "printed").unwrap();
    assert_eq!(again.l3, config.l3);
}

#[test]
fn a_route_must_be_a_network_reached_on_link() {
    let route = |to: &str, via: &str| format!("{PHY}[[route]]\nto = \"{to}\"\nvia = \"{via}\"\n");
    assert_error(
        &route("10.1.0.1/16", "10.0.0.254"),
        6,
        "route[0].to",
        "the network is 10.1.0.0/16",
    );
    assert_error(
        &route("10.1.0.0/16", "10.9.0.254"),
        7,
        "route[0].via",
        "must be on-link",
    );
    assert_error(
        &route("10.1.0.0/16", "2001:db8::fe"),
        7,
        "route[0].via",
        "not of one family",
    );
    assert_error(
        &route("10.1.0.0/33", "10.0.0.254"),
        6,
        "route[0].to",
        "prefix length",
    );
    let twice = format!(
        "{}[[route]]\nto = \"10.1.0.0/16\"\nvia = \"10.0.0.253\"\n",
        route("10.1.0.0/16", "10.0.0.254")
    );
    assert_error(&twice, 9, "route[1].to", "already in route[0]");
    assert_error(
        &format!("{PHY}[[route]]\nvia = \"10.0.0.254\"\n"),
        5,
        "route[0].to",
        "is required",
    );
}

#[test]
fn neighbours_are_unique_and_unicast() {
    let neighbour = |ip: &str, mac: &str| format!("[[neighbour]]\nip = \"{ip}\"\nmac = \"{mac}\"\n");
    let multicast = format!("{PHY}{}", neighbour("10.0.0.254", "01:00:5e:00:00:01"));
    assert_error(&multicast, 7, "neighbour[0].mac", "multicast");
    let zero = format!("{PHY}{}", neighbour("10.0.0.254", "00:00:00:00:00:00"));
    assert_error(&zero, 7, "neighbour[0].mac", "all-zero");
    let twice = format!(
        "{PHY}{}{}",
        neighbour("10.0.0.254", "02:00:00:00:00:fe"),
        neighbour("10.0.0.254", "02:00:00:00:00:fd")
    );
    assert_error(&twice, 9, "neighbour[1].ip", "already neighbour[0]");
    assert_error(
        &format!("{PHY}{}", neighbour("10.0.0.x", "02:00:00:00:00:fe")),
        6,
        "neighbour[0].ip",
        "not an IP address",
    );
}

#[test]
fn the_masters_addresses_are_its_own() {
    let slave = format!("{PHY}[[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.1/24\"]\n");
    assert_error(
        &slave,
        8,
        "slave[0].addresses[0]",
        "is already on the master ([phy] addresses)",
    );
    let host = "[phy]\nring = \"p\"\n[host]\nring = \"h\"\naddresses = [\"10.0.0.1/24\"]\n";
    assert_error(host, 3, "host", "give them in [phy]");
    let twice = "[phy]\nring = \"p\"\naddresses = [\"10.0.0.1/24\", \"10.0.0.1/16\"]\n";
    assert_error(twice, 3, "phy.addresses[1]", "already on the master");
}
