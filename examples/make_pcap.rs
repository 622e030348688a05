//! Writes a pcap of 64-byte frames (or FRAME_BYTES, FCS included) for the benchmark: UDP to the
//! first SLAVES (default 8) slave addresses of scripts/bench.sh (slave k: 10.0.k/200.11+k%200,
//! 2001:db8::11+k), in turn, addressed to the switch's MAC, optionally with a share of
//! broadcast ARP. (An IPv6/UDP frame is 66 bytes at least.) `l2-out` and `l3-out` are a slave's
//! IPv4 frames (from 10.0.0.11 and the master's MAC) to 1,000 outside networks 20.x.y.0/24 in
//! turn: to the next hop's MAC (as an L2 slave sends them) or to the master's (a NOARP L3 one).
//! `v4-mdns` is `v4` with the share as mDNS (UDP to 224.0.0.251, the group scripts/bench.sh has
//! two slaves join) instead of broadcast ARP.
//!
//! usage: make_pcap OUT.pcap [v4|v6|v4-mdns|l2-out|l3-out] [SHARE_PERCENT] [SLAVES] [FRAME_BYTES]

#[path = "../tests/common/pcap.rs"]
mod pcap;

const MASTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
/// The next hop of the outbound cases (scripts/bench.sh's static neighbour).
const GATEWAY: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
/// The outside networks of the outbound cases (scripts/bench.sh routes each).
const OUTSIDE_NETWORKS: usize = 1000;
const FRAMES: usize = 960; // divides among 8 and 30 slaves evenly
/// Frames of the outbound cases: three per outside network.
const OUTBOUND_FRAMES: usize = 3000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).expect(
        "usage: make_pcap OUT.pcap [v4|v6|v4-mdns|l2-out|l3-out] [SHARE_PERCENT] [SLAVES] [FRAME_BYTES]",
    );
    let kind = args.get(2).map_or("v4", String::as_str);
    let v6 = kind == "v6";
    let outbound = match kind {
        "l2-out" => Some(GATEWAY),
        "l3-out" => Some(MASTER),
        _ => None,
    };
    let broadcast_percent: usize = args.get(3).map_or(0, |p| p.parse().expect("percent"));
    let slaves: usize = args.get(4).map_or(8, |n| n.parse().expect("slave count"));
    let frame_bytes: usize = args.get(5).map_or(64, |n| n.parse().expect("frame bytes"));
    // UDP payload for a frame of frame_bytes on the wire: minus FCS, Ethernet, IP and UDP.
    let payload = |ip_header: usize| vec![0u8; frame_bytes.saturating_sub(4 + 14 + ip_header + 8)];

    let mut frames = Vec::new();
    let count = if outbound.is_some() {
        OUTBOUND_FRAMES
    } else {
        FRAMES
    };
    for i in 0..count {
        let slave = i % slaves;
        let v4_dst = [10, 0, (slave / 200) as u8, (11 + slave % 200) as u8];
        let mut frame = Vec::new();
        if let Some(dst_mac) = outbound {
            let network = i % OUTSIDE_NETWORKS;
            let b = etherparse::PacketBuilder::ethernet2(MASTER, dst_mac)
                .ipv4(
                    [10, 0, 0, 11],
                    [20, (network / 250) as u8, (network % 250) as u8, 1],
                    64,
                )
                .udp(4000, 5000);
            b.write(&mut frame, &payload(20)).unwrap();
        } else if i % 100 < broadcast_percent && kind == "v4-mdns" {
            let b = etherparse::PacketBuilder::ethernet2(PEER, [0x01, 0, 0x5e, 0, 0, 0xfb])
                .ipv4([10, 0, 0, 1], [224, 0, 0, 251], 64)
                .udp(5353, 5353);
            b.write(&mut frame, &payload(20)).unwrap();
        } else if i % 100 < broadcast_percent {
            let builder = etherparse::PacketBuilder::ethernet2(PEER, [0xff; 6]).arp(
                etherparse::ArpPacket::new(
                    etherparse::ArpHardwareId::ETHERNET,
                    etherparse::EtherType::IPV4,
                    etherparse::ArpOperation::REQUEST,
                    &PEER,
                    &[10, 0, 0, 1],
                    &[0; 6],
                    &v4_dst,
                )
                .unwrap(),
            );
            builder.write(&mut frame).unwrap();
        } else if v6 {
            let mut dst = [0u8; 16];
            dst[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            dst[14..].copy_from_slice(&(0x11 + slave as u16).to_be_bytes());
            let mut src = dst;
            src[14..].copy_from_slice(&[0, 1]);
            let b = etherparse::PacketBuilder::ethernet2(PEER, MASTER)
                .ipv6(src, dst, 64)
                .udp(4000, 5000);
            b.write(&mut frame, &payload(40)).unwrap();
        } else {
            let b = etherparse::PacketBuilder::ethernet2(PEER, MASTER)
                .ipv4([10, 0, 0, 1], v4_dst, 64)
                .udp(4000, 5000);
            b.write(&mut frame, &payload(20)).unwrap();
        }
        frame.resize(frame.len().max(60), 0); // 60 + 4 FCS = 64 bytes on the wire
        frames.push(frame);
    }
    std::fs::write(out, pcap::write(&frames)).expect("write pcap");
}
