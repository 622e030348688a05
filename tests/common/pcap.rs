//! Minimal pcap (libpcap 2.4, Ethernet) writer and reader for net_pcap vdev files.

/// A pcap file holding `frames`.
pub fn write(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    // Time zone, sigfigs, snap length, link type Ethernet.
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for f in frames {
        for v in [0u32, 0, f.len() as u32, f.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// The frames of a little-endian pcap file.
#[allow(dead_code)] // the benchmark's pcap generator writes only
pub fn read(file: &[u8]) -> Vec<Vec<u8>> {
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    // Microsecond or (as net_pcap writes) nanosecond timestamps.
    assert!(
        [0xa1b2_c3d4, 0xa1b2_3c4d].contains(&u32_at(0)),
        "not a little-endian pcap"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let len = u32_at(at + 8);
        frames.push(file[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    frames
}
