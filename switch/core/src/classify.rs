//! What a frame is, read from its header bytes only: the pure first step of every dispatch.
//!
//! Follows the kernel's ipvlan_get_L3_hdr (see the README's L2 semantics): the lookup key is
//! the ARP target, the IPv4/IPv6 destination, or the target of a `::`-sourced Neighbour
//! Solicitation; anything else has no key. Headers are read from the frame's first bytes (an
//! mbuf chain's first segment); lengths are judged against the whole frame.

/// An IP address used as a lookup key, as a big-endian number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    V4(u32),
    V6(u128),
}

/// The destination MAC's kind.
impl From<std::net::IpAddr> for Key {
    fn from(address: std::net::IpAddr) -> Key {
        match address {
            std::net::IpAddr::V4(a) => Key::V4(u32::from(a)),
            std::net::IpAddr::V6(a) => Key::V6(u128::from(a)),
        }
    }
}

impl From<Key> for std::net::IpAddr {
    fn from(key: Key) -> std::net::IpAddr {
        match key {
            Key::V4(a) => std::net::IpAddr::from(a.to_be_bytes()),
            Key::V6(a) => std::net::IpAddr::from(a.to_be_bytes()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstKind {
    Unicast,
    Multicast,
    Broadcast,
}

pub const ETH_HLEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag: the kernel's RX path removes it like an 802.1Q tag (eth_type_vlan).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.3x flow control: never forwarded.
pub const ETHERTYPE_PAUSE: u16 = 0x8808;
/// Reverse ARP: what QEMU has the vhost backend send for a guest after live migration.
pub const ETHERTYPE_RARP: u16 = 0x8035;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const ICMPV6_NEIGHBOUR_SOLICITATION: u8 = 135;

/// The classification of one frame of at least 14 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub dst_kind: DstKind,
    /// Carried an 802.1Q or 802.1ad tag (the keys are read from the header inside it).
    pub tagged: bool,
    /// The (inner) ethertype.
    pub ethertype: u16,
    /// The key a destination lookup uses.
    pub dst_key: Option<Key>,
    /// The key a source lookup uses (the "is this a slave's own frame" test).
    pub src_key: Option<Key>,
}

impl Classified {
    /// The destination MAC is multicast or broadcast.
    #[inline(always)]
    pub fn is_multicast(&self) -> bool {
        self.dst_kind != DstKind::Unicast
    }

    /// Destination MAC equals source MAC: how an L2 slave addresses another slave or the host.
    #[inline(always)]
    pub fn dst_is_src(&self) -> bool {
        self.dst == self.src
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[inline(always)]
fn be128(b: &[u8], at: usize) -> u128 {
    u128::from_be_bytes(b[at..at + 16].try_into().unwrap())
}

/// Classifies a frame of `frame_len` bytes whose first bytes are `frame` (all of them, or the
/// first segment of a chain); `None` if it is shorter than an Ethernet header (malformed).
#[inline]
pub fn classify(frame: &[u8], frame_len: usize) -> Option<Classified> {
    debug_assert!(frame_len >= frame.len());
    if frame.len() < ETH_HLEN {
        return None;
    }
    let dst: [u8; 6] = frame[0..6].try_into().unwrap();
    let src: [u8; 6] = frame[6..12].try_into().unwrap();
    let dst_kind = if dst[0] & 1 == 0 {
        DstKind::Unicast
    } else if dst == [0xff; 6] {
        DstKind::Broadcast
    } else {
        DstKind::Multicast
    };
    let (tagged, ethertype, l3) = match be16(frame, 12) {
        ETHERTYPE_VLAN | ETHERTYPE_QINQ if frame.len() >= ETH_HLEN + 4 => {
            (true, be16(frame, 16), &frame[ETH_HLEN + 4..])
        }
        // A truncated tag: no inner header, hence no key.
        tpid @ (ETHERTYPE_VLAN | ETHERTYPE_QINQ) => (true, tpid, &frame[frame.len()..]),
        ethertype => (false, ethertype, &frame[ETH_HLEN..]),
    };
    // Bytes of the L3 packet in the whole frame, of which `l3` are at hand.
    let l3_len = frame_len - (frame.len() - l3.len());
    let (dst_key, src_key) = l3_keys(ethertype, l3, l3_len).unzip();
    Some(Classified {
        dst,
        src,
        dst_kind,
        tagged,
        ethertype,
        dst_key,
        src_key,
    })
}

/// The destination key of an untagged unicast frame, the common case of the wire's traffic,
/// without the rest of a classification; `None` for anything else (classify it then).
#[inline(always)]
pub fn unicast_destination(frame: &[u8], frame_len: usize) -> Option<Key> {
    usual_unicast_destination(frame, frame_len).or_else(|| other_unicast_destination(frame, frame_len))
}

/// `unicast_destination` of nearly every frame, untagged unicast IPv4 without options or IPv6
/// with no ICMPv6 header to look into, of at least 54 bytes (as every frame the wire brings),
/// recognised by one compare of the ethertype and the header's first byte; `None` for every
/// other frame (and one whose length does not check out). Apart from the rest, which stays out
/// of line, so that the loop's registers serve the usual frame: a caller that can, decides the
/// two apart.
#[inline(always)]
pub fn usual_unicast_destination(frame: &[u8], frame_len: usize) -> Option<Key> {
    let head = frame.get(..ETH_HLEN + 40)?;
    let ethertype_and_version = u32::from_le_bytes(head[12..16].try_into().unwrap());
    if head[0] & 1 != 0 {
        return None;
    }
    if ethertype_and_version & 0x00ff_ffff == 0x0045_0008 {
        // 20 <= total length <= the bytes after the Ethernet header, in one compare.
        let total_len = usize::from(be16(head, ETH_HLEN + 2));
        let fits = total_len.wrapping_sub(20) <= frame_len - (ETH_HLEN + 20);
        return fits.then(|| Key::V4(be32(head, ETH_HLEN + 16)));
    }
    if ethertype_and_version & 0x00f0_ffff == 0x0060_dd86 && head[ETH_HLEN + 6] != IPPROTO_ICMPV6 {
        return Some(Key::V6(be128(head, ETH_HLEN + 24)));
    }
    None
}

/// `unicast_destination` of the frames `usual_unicast_destination` does not decide.
#[inline(never)]
pub fn other_unicast_destination(frame: &[u8], frame_len: usize) -> Option<Key> {
    if frame.len() < ETH_HLEN || frame[0] & 1 != 0 {
        return None;
    }
    // A tagged frame's ethertype (the tag's) has no keys.
    l3_keys(be16(frame, 12), &frame[ETH_HLEN..], frame_len - ETH_HLEN).map(|(dst, _)| dst)
}

/// (destination key, source key) of an L3 header, or `None`. `l3` is the header at hand,
/// `l3_len` the packet's length in the whole frame.
#[inline(always)]
fn l3_keys(ethertype: u16, l3: &[u8], l3_len: usize) -> Option<(Key, Key)> {
    match ethertype {
        ETHERTYPE_ARP => {
            // hrd/pro/hln/pln/op are not checked: the offsets assume a 6-byte MAC, 4-byte IP.
            if l3.len() < 28 {
                return None;
            }
            Some((Key::V4(be32(l3, 24)), Key::V4(be32(l3, 14))))
        }
        ETHERTYPE_IPV4 => {
            if l3.len() < 20 {
                return None;
            }
            let header_len = match l3[0] {
                // Version 4 without options, nearly every packet: one compare.
                0x45 => 20,
                b if b >> 4 == 4 && b & 0x0f >= 5 => usize::from(b & 0x0f) * 4,
                _ => return None,
            };
            let total_len = usize::from(be16(l3, 2));
            if total_len > l3_len || total_len < header_len {
                return None;
            }
            Some((Key::V4(be32(l3, 16)), Key::V4(be32(l3, 12))))
        }
        ETHERTYPE_IPV6 => {
            if l3.len() < 40 || l3[0] >> 4 != 6 {
                return None;
            }
            let source = be128(l3, 8);
            if source == 0 && l3[6] == IPPROTO_ICMPV6 {
                // A `::` source (DAD) ICMPv6: only a Neighbour Solicitation has a key, its target.
                if l3.len() < 48 {
                    return None;
                }
                if l3[40] != ICMPV6_NEIGHBOUR_SOLICITATION || l3.len() < 64 {
                    return None;
                }
                let target = Key::V6(be128(l3, 48));
                return Some((target, target));
            }
            Some((Key::V6(be128(l3, 24)), Key::V6(source)))
        }
        _ => None,
    }
}
