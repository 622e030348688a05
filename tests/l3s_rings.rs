//! Mode l3s end to end on ring-backed ports: each slave's ingress and egress rules allow and
//! deny with their hits counted, and connection tracking lets the replies to a slave's own
//! connections in (from the wire and from another slave) until they time out, refusing
//! unsolicited ones; every refusal counted as `filtered`, no mbuf leaked.

mod common;

use std::time::Duration;

use common::*;

fn tcp4(src: [u8; 4], dst: [u8; 4], (src_port, dst_port): (u16, u16)) -> Vec<u8> {
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2(MASTER, MASTER)
        .ipv4(src, dst, 64)
        .tcp(src_port, dst_port, 1, 1000)
        .write(&mut frame, b"tcp")
        .unwrap();
    frame
}

fn udp(src: [u8; 4], dst: [u8; 4], ports: (u16, u16)) -> Vec<u8> {
    udp4_ports(MASTER, MASTER, src, dst, ports, b"udp")
}

const A: [u8; 4] = [10, 0, 0, 11];
const B: [u8; 4] = [10, 0, 0, 12];
const INTERNET: [u8; 4] = [192, 0, 2, 1];
const BLOCKED: [u8; 4] = [192, 0, 2, 66];
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

/// A default route via a static neighbour; slave a takes ssh and the replies to its own
/// connections only, and may not reach 192.0.2.66; b is unfiltered. UDP connections time out
/// after 1 s.
const L3S: &str = r#"mode = "l3s"
[phy]
ring = "phy"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.100/24"]
[[route]]
to = "0.0.0.0/0"
via = "10.0.0.254"
[[neighbour]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
[conntrack]
other_timeout = 1
[[slave]]
name = "a"
ring = "a"
addresses = ["10.0.0.11/24"]
[slave.ingress]
default = "deny"
established = true
rules = [{ action = "allow", proto = "tcp", to_port = 22 }]
[slave.egress]
rules = [{ action = "deny", to = "192.0.2.66/32" }]
[[slave]]
name = "b"
ring = "b"
addresses = ["10.0.0.12/24"]
"#;

/// `frame` as the switch sends it to the gateway.
fn routed(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    out[0..6].copy_from_slice(&GATEWAY_MAC);
    out
}

#[test]
fn rules_allow_and_deny_in_order_and_count_their_hits() {
    let (_eal, sw) = start("l3s_rules", L3S);
    let ssh = tcp4(INTERNET, A, (40000, 22));
    let telnet = tcp4(INTERNET, A, (40000, 23));
    inject(&sw, "phy", &[ssh.clone(), telnet]);
    assert_eq!(take(&sw, "a"), vec![ssh]);

    let out = udp(A, INTERNET, (4000, 53));
    inject(&sw, "a", &[udp(A, BLOCKED, (4000, 53)), out.clone()]);
    assert_eq!(take(&sw, "phy"), vec![routed(&out)]);

    let hits: Vec<_> = sw
        .filter_reports()
        .into_iter()
        .map(|r| (r.direction, r.rule, r.hits))
        .collect();
    let rule = |direction, text: &str, hits| (direction, text.to_string(), hits);
    assert_eq!(
        hits,
        [
            rule("ingress", "allow tcp from any to any port 22", 1),
            rule("ingress", "default deny", 1),
            rule("egress", "deny ip from any to 192.0.2.66/32", 1),
            rule("egress", "default allow", 1),
        ]
    );
    let stats = finish(sw);
    assert_eq!(
        (stats["phy"].drops["filtered"], stats["a"].drops["filtered"]),
        (1, 1)
    );
}

#[test]
fn replies_to_a_slaves_connections_pass_until_they_time_out() {
    let (_eal, sw) = start("l3s_conntrack", L3S);
    let (reply, unsolicited) = (udp(INTERNET, A, (53, 4000)), udp(INTERNET, A, (53, 4001)));
    inject(&sw, "phy", std::slice::from_ref(&reply));
    assert!(take(&sw, "a").is_empty(), "no connection yet");

    let query = udp(A, INTERNET, (4000, 53));
    inject(&sw, "a", std::slice::from_ref(&query));
    assert_eq!(take(&sw, "phy"), vec![routed(&query)]);
    inject(&sw, "phy", &[reply.clone(), unsolicited]);
    assert_eq!(take(&sw, "a"), vec![reply.clone()]);
    assert_eq!(sw.connection_stats().map(|c| c.open), Some(1));

    // Slave to slave: b reaches a only in answer to a.
    let (b_to_a, a_to_b) = (udp(B, A, (7, 7000)), udp(A, B, (7000, 7)));
    inject(&sw, "b", std::slice::from_ref(&b_to_a));
    assert!(take(&sw, "a").is_empty());
    inject(&sw, "a", std::slice::from_ref(&a_to_b));
    assert_eq!(take(&sw, "b"), vec![a_to_b]);
    inject(&sw, "b", std::slice::from_ref(&b_to_a));
    assert_eq!(take(&sw, "a"), vec![b_to_a]);

    // A second after the query's last packet its replies are refused again.
    std::thread::sleep(Duration::from_millis(1300));
    inject(&sw, "phy", &[reply]);
    assert!(take(&sw, "a").is_empty(), "the connection timed out");
    assert_eq!(sw.connection_stats().map(|c| c.open), Some(0));
    let stats = finish(sw);
    assert_eq!(
        (stats["phy"].drops["filtered"], stats["b"].drops["filtered"]),
        (3, 1)
    );
}
