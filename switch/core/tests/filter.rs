//! Mode l3s's filtering stage: what a frame's flow is, rules in order with their hit counts,
//! and connection tracking (a reply allowed, an unsolicited packet refused, an entry timing
//! out), on frames built with etherparse.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::*;
use etherparse::PacketBuilder;
use switch_core::dispatch::{DropReason, Verdict};
use switch_core::filter::{
    Action, Connections, Filter, Filters, Flow, Net, Rule, SlaveFilters, IPPROTO_TCP, IPPROTO_UDP,
};

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(src_port, dst_port, 1, 1000)
        .write(&mut frame, &[1, 2, 3])
        .unwrap();
    frame
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(src_port, dst_port)
        .write(&mut frame, &[1, 2, 3])
        .unwrap();
    frame
}

fn rule(action: Action) -> Rule {
    Rule {
        action,
        from: None,
        to: None,
        proto: None,
        from_ports: None,
        to_ports: None,
    }
}

fn net(text: &str, prefix: u8) -> Option<Net> {
    Some(Net::new(text.parse::<IpAddr>().unwrap(), prefix))
}

#[test]
fn a_flow_is_the_addresses_protocol_and_ports_and_echo_ids() {
    let flow = Flow::of(&tcp(SLAVE0_V4, EXTERNAL_V4, 40000, 80)).unwrap();
    assert_eq!(
        flow,
        Flow {
            src: v4(SLAVE0_V4),
            dst: v4(EXTERNAL_V4),
            proto: IPPROTO_TCP,
            src_port: 40000,
            dst_port: 80
        }
    );
    assert_eq!(flow.reversed().reversed(), flow);
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ipv4(SLAVE0_V4.octets(), EXTERNAL_V4.octets(), 64)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut ping, &[0; 8])
        .unwrap();
    let mut pong = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ipv4(EXTERNAL_V4.octets(), SLAVE0_V4.octets(), 64)
        .icmpv4_echo_reply(0x1234, 1)
        .write(&mut pong, &[0; 8])
        .unwrap();
    assert_eq!(Flow::of(&pong), Some(Flow::of(&ping).unwrap().reversed()));
    let udp6 = Flow::of(&eth(
        MASTER_MAC,
        MASTER_MAC,
        0x86dd,
        &ipv6_udp(SLAVE0_V6, SLAVE1_V6),
    ))
    .unwrap();
    assert_eq!(
        (udp6.src, udp6.dst, udp6.proto),
        (v6(SLAVE0_V6), v6(SLAVE1_V6), IPPROTO_UDP)
    );
    assert_eq!(
        Flow::of(&arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4)),
        None
    );
    assert_eq!(Flow::of(&tcp(SLAVE0_V4, EXTERNAL_V4, 1, 2)[..30]), None);
}

#[test]
fn the_first_matching_rule_decides_and_counts() {
    let filter = Filter::new(
        vec![
            Rule {
                proto: Some(IPPROTO_TCP),
                to_ports: Some((80, 80)),
                ..rule(Action::Allow)
            },
            Rule {
                from: net("192.0.2.0", 24),
                ..rule(Action::Deny)
            },
            Rule {
                proto: Some(IPPROTO_UDP),
                to_ports: Some((5000, 5999)),
                ..rule(Action::Allow)
            },
        ],
        Action::Deny,
        false,
    );
    let outside = Ipv4Addr::new(198, 51, 100, 7);
    let decide = |frame: Vec<u8>| filter.decide(&Flow::of(&frame).unwrap());
    assert_eq!(decide(tcp(EXTERNAL_V4, SLAVE0_V4, 1234, 80)), Action::Allow);
    assert_eq!(decide(udp(EXTERNAL_V4, SLAVE0_V4, 1234, 5500)), Action::Deny); // rule 1 first
    assert_eq!(decide(udp(outside, SLAVE0_V4, 1234, 5500)), Action::Allow);
    assert_eq!(decide(udp(outside, SLAVE0_V4, 1234, 6000)), Action::Deny); // the default
    assert_eq!(decide(tcp(outside, SLAVE0_V4, 1234, 81)), Action::Deny);
    assert_eq!(filter.hits().collect::<Vec<_>>(), [1, 1, 1, 2]);
}

/// Slave 0 may only open connections (ingress: default deny, established); slave 1 has no
/// filter.
fn guarded() -> Vec<Option<Arc<SlaveFilters>>> {
    let ingress = Filter::new(Vec::new(), Action::Deny, true);
    vec![Some(Arc::new(SlaveFilters {
        ingress: Some(ingress),
        egress: None,
    }))]
}

#[test]
fn replies_to_a_slaves_connections_pass_until_they_time_out() {
    let slaves = guarded();
    let connections = Connections::new(64, 100, 10);
    let at = |now| Filters {
        slaves: &slaves,
        connections: &connections,
        now,
    };
    let (out, reply) = (
        udp(SLAVE0_V4, EXTERNAL_V4, 4000, 53),
        udp(EXTERNAL_V4, SLAVE0_V4, 53, 4000),
    );
    // Unsolicited: refused.
    assert_eq!(
        at(0).from_phy(Verdict::Slave(0), &reply),
        Verdict::Drop(DropReason::Filtered)
    );
    // The slave asks: its reply passes, another port's does not.
    assert_eq!(
        at(1).from_slave(0, Verdict::Gateway(0), &out),
        Verdict::Gateway(0)
    );
    assert_eq!(at(2).from_phy(Verdict::Slave(0), &reply), Verdict::Slave(0));
    let other = udp(EXTERNAL_V4, SLAVE0_V4, 53, 4001);
    assert_eq!(
        at(2).from_phy(Verdict::Slave(0), &other),
        Verdict::Drop(DropReason::Filtered)
    );
    // UDP times out 10 after its last packet; TCP after 100.
    assert_eq!(
        at(11).from_phy(Verdict::Slave(0), &reply),
        Verdict::Drop(DropReason::Filtered)
    );
    let (syn, ack) = (
        tcp(SLAVE0_V4, EXTERNAL_V4, 4000, 22),
        tcp(EXTERNAL_V4, SLAVE0_V4, 22, 4000),
    );
    assert_eq!(
        at(20).from_slave(0, Verdict::Gateway(0), &syn),
        Verdict::Gateway(0)
    );
    assert_eq!(at(119).from_phy(Verdict::Slave(0), &ack), Verdict::Slave(0));
    assert_eq!(
        at(121).from_phy(Verdict::Slave(0), &ack),
        Verdict::Drop(DropReason::Filtered)
    );
    assert_eq!(connections.open(20), 1);
    // ARP and neighbour traffic is not filtered.
    let who_has = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(at(0).from_phy(Verdict::Slave(0), &who_has), Verdict::Slave(0));
    assert_eq!(at(0).from_slave(0, Verdict::Answer, &out), Verdict::Answer);
}

#[test]
fn slave_to_slave_passes_the_senders_egress_and_the_receivers_ingress() {
    let slaves = guarded();
    let connections = Connections::new(64, 100, 10);
    let filters = Filters {
        slaves: &slaves,
        connections: &connections,
        now: 0,
    };
    // Slave 1 (unfiltered) to slave 0: refused by 0's ingress; 0 to 1 opens the way back.
    let to0 = udp(SLAVE1_V4, SLAVE0_V4, 7, 7000);
    assert_eq!(
        filters.from_slave(1, Verdict::Slave(0), &to0),
        Verdict::Drop(DropReason::Filtered)
    );
    assert_eq!(
        filters.from_slave(0, Verdict::Slave(1), &udp(SLAVE0_V4, SLAVE1_V4, 7000, 7)),
        Verdict::Slave(1)
    );
    assert_eq!(filters.from_slave(1, Verdict::Slave(0), &to0), Verdict::Slave(0));
    // An egress deny drops before anything else.
    let egress = vec![Some(Arc::new(SlaveFilters {
        ingress: None,
        egress: Some(Filter::new(vec![rule(Action::Deny)], Action::Allow, false)),
    }))];
    let filters = Filters {
        slaves: &egress,
        ..filters
    };
    assert_eq!(filters.from_slave(0, Verdict::Phy, &to0), Verdict::Phy); // not an l3 verdict
    assert_eq!(
        filters.from_slave(0, Verdict::Host(DropReason::NoHost), &to0),
        Verdict::Drop(DropReason::Filtered)
    );
}

#[test]
fn a_full_set_evicts_and_counts() {
    let connections = Connections::new(4, 100, 100);
    assert_eq!(connections.capacity(), 4);
    for port in 0..5u16 {
        connections.opened(
            &Flow::of(&udp(SLAVE0_V4, EXTERNAL_V4, port, 53)).unwrap(),
            u64::from(port),
        );
    }
    assert_eq!(connections.evicted(), 1);
    assert_eq!(connections.open(10), 4);
    // The oldest went.
    let first = Flow::of(&udp(EXTERNAL_V4, SLAVE0_V4, 53, 0)).unwrap();
    assert!(!connections.is_reply(&first, 10));
    let last = Flow::of(&udp(EXTERNAL_V4, SLAVE0_V4, 53, 4)).unwrap();
    assert!(connections.is_reply(&last, 10));
}
