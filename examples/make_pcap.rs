//! Writes a pcap of 64-byte frames (or FRAME_BYTES, FCS included) for the benchmark: UDP to the
//! first SLAVES (default 8) slave addresses of scripts/bench.sh (slave k: 10.0.k/200.11+k%200,
//! 2001:db8::11+k), in turn, addressed to the switch's MAC, optionally with a share of
//! broadcast ARP. (An IPv6/UDP frame is 66 bytes at least.)
//!
//! usage: make_pcap OUT.pcap [v4|v6] [BROADCAST_PERCENT] [SLAVES] [FRAME_BYTES]

#[path = "../tests/common/pcap.rs"]
mod pcap;

const MASTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const FRAMES: usize = 960; // divides among 8 and 30 slaves evenly

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .expect("usage: make_pcap OUT.pcap [v4|v6] [BROADCAST_PERCENT] [SLAVES] [FRAME_BYTES]");
    let v6 = args.get(2).map(String::as_str) == Some("v6");
    let broadcast_percent: usize = args.get(3).map_or(0, |p| p.parse().expect("percent"));
    let slaves: usize = args.get(4).map_or(8, |n| n.parse().expect("slave count"));
    let frame_bytes: usize = args.get(5).map_or(64, |n| n.parse().expect("frame bytes"));
    // UDP payload for a frame of frame_bytes on the wire: minus FCS, Ethernet, IP and UDP.
    let payload = |ip_header: usize| vec![0u8; frame_bytes.saturating_sub(4 + 14 + ip_header + 8)];

    let mut frames = Vec::new();
    for i in 0..FRAMES {
        let slave = i % slaves;
        let v4_dst = [10, 0, (slave / 200) as u8, (11 + slave % 200) as u8];
        let mut frame = Vec::new();
        if i % 100 < broadcast_percent {
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
