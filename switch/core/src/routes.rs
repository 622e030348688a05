//! Mode l3's route table: longest-prefix match over the master's own addresses (local), its
//! connected networks and the configured routes, IPv4 and IPv6 apart. One hash table per prefix
//! length present, probed from the longest: a table has few distinct lengths (host routes, the
//! connected networks, a default), so a lookup is a few probes however many routes it holds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::classify::Key;

/// Where a destination is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// One of the master's own addresses: to the host.
    Local,
    /// On a connected network: the destination is its own next hop.
    Connected,
    /// Through this next hop (on a connected network).
    Via(Key),
}

/// The routes of both families.
#[derive(Default)]
pub struct Routes {
    v4: Prefixes<u32>,
    v6: Prefixes<u128>,
}

impl Routes {
    /// The master's addresses (each a local host route and a connected network) and the
    /// configured routes `(network, prefix length, next hop)`. Where two give one network,
    /// the first stands: local, then connected, then configured, as the kernel's local table
    /// comes before its main one.
    pub fn new(master: &[(IpAddr, u8)], routes: &[(IpAddr, u8, IpAddr)]) -> Routes {
        let mut table = Routes::default();
        for &(address, prefix) in master {
            let host = if address.is_ipv4() { 32 } else { 128 };
            table.insert(address, host, Route::Local);
            table.insert(address, prefix, Route::Connected);
        }
        for &(network, prefix, via) in routes {
            table.insert(network, prefix, Route::Via(Key::from(via)));
        }
        table
    }

    fn insert(&mut self, network: IpAddr, prefix: u8, route: Route) {
        match network {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), prefix, route),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), prefix, route),
        }
    }

    /// The route of the longest prefix holding `destination`.
    #[inline]
    pub fn lookup(&self, destination: Key) -> Option<Route> {
        match destination {
            Key::V4(a) => self.v4.lookup(a),
            Key::V6(a) => self.v6.lookup(a),
        }
    }

    /// The next hop toward `destination`: itself on a connected network, the route's gateway,
    /// or `None` (local, or no route).
    #[inline]
    pub fn next_hop(&self, destination: Key) -> Option<Key> {
        match self.lookup(destination)? {
            Route::Local => None,
            Route::Connected => Some(destination),
            Route::Via(via) => Some(via),
        }
    }
}

/// An address width the table masks.
trait Bits: Copy + Eq + std::hash::Hash + Default {
    const WIDTH: u8;
    fn masked(self, prefix: u8) -> Self;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    fn masked(self, prefix: u8) -> u32 {
        self & u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0)
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    fn masked(self, prefix: u8) -> u128 {
        self & u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0)
    }
}

/// Addresses are hashed by a multiply-fold: they are not chosen by an attacker to collide in
/// a table the operator filled, and SipHash would cost more than the probe.
#[derive(Default)]
pub(crate) struct FoldHasher(u64);

impl FoldHasher {
    #[inline(always)]
    fn fold(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for FoldHasher {
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.fold(u64::from_le_bytes(word));
        }
    }

    // What addresses and `Key` hash with: a multiply per word, no byte loop.
    #[inline(always)]
    fn write_u32(&mut self, n: u32) {
        self.fold(u64::from(n));
    }

    #[inline(always)]
    fn write_u64(&mut self, n: u64) {
        self.fold(n);
    }

    #[inline(always)]
    fn write_u128(&mut self, n: u128) {
        self.fold(n as u64);
        self.fold((n >> 64) as u64);
    }

    #[inline(always)]
    fn write_isize(&mut self, n: isize) {
        self.fold(n as u64);
    }

    #[inline(always)]
    fn write_usize(&mut self, n: usize) {
        self.fold(n as u64);
    }
}

/// A table keyed by addresses, hashed by `FoldHasher`.
pub(crate) type AddressMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// The networks of one prefix length, by their masked address.
type Networks<A> = AddressMap<A, Route>;

/// The networks of one family, by prefix length (longest first).
struct Prefixes<A> {
    by_length: Vec<(u8, Networks<A>)>,
}

impl<A> Default for Prefixes<A> {
    fn default() -> Self {
        Prefixes {
            by_length: Vec::new(),
        }
    }
}

impl<A: Bits> Prefixes<A> {
    fn insert(&mut self, network: A, prefix: u8, route: Route) {
        let prefix = prefix.min(A::WIDTH);
        let at = match self.by_length.binary_search_by(|(length, _)| prefix.cmp(length)) {
            Ok(at) => at,
            Err(at) => {
                self.by_length.insert(at, (prefix, HashMap::default()));
                at
            }
        };
        self.by_length[at]
            .1
            .entry(network.masked(prefix))
            .or_insert(route);
    }

    #[inline]
    fn lookup(&self, address: A) -> Option<Route> {
        self.by_length
            .iter()
            .find_map(|(prefix, networks)| networks.get(&address.masked(*prefix)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Key {
        Key::from(text.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn the_longest_prefix_wins_and_local_comes_first() {
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let routes = Routes::new(
            &[(ip("10.0.0.1"), 24), (ip("2001:db8::1"), 64)],
            &[
                (ip("0.0.0.0"), 0, ip("10.0.0.254")),
                (ip("10.1.0.0"), 16, ip("10.0.0.253")),
                (ip("10.1.2.0"), 24, ip("10.0.0.252")),
                (ip("10.0.0.0"), 24, ip("10.0.0.9")), // the connected network stands
                (ip("::"), 0, ip("2001:db8::fe")),
            ],
        );
        assert_eq!(routes.lookup(v4("10.0.0.1")), Some(Route::Local));
        assert_eq!(routes.lookup(v4("10.0.0.7")), Some(Route::Connected));
        assert_eq!(routes.next_hop(v4("10.0.0.7")), Some(v4("10.0.0.7")));
        assert_eq!(routes.next_hop(v4("10.1.9.9")), Some(v4("10.0.0.253")));
        assert_eq!(routes.next_hop(v4("10.1.2.3")), Some(v4("10.0.0.252")));
        assert_eq!(routes.next_hop(v4("192.0.2.1")), Some(v4("10.0.0.254")));
        assert_eq!(routes.next_hop(v4("10.0.0.1")), None);
        assert_eq!(
            routes.next_hop(Key::from(ip("2001:db8::5"))),
            Some(Key::from(ip("2001:db8::5")))
        );
        assert_eq!(
            routes.next_hop(Key::from(ip("2001:db8:1::5"))),
            Some(Key::from(ip("2001:db8::fe")))
        );
    }

    #[test]
    fn without_a_default_an_outside_address_has_no_route() {
        let routes = Routes::new(&[("10.0.0.1".parse().unwrap(), 24)], &[]);
        assert_eq!(routes.lookup(v4("192.0.2.1")), None);
        assert_eq!(routes.lookup(Key::V6(1)), None);
    }
}
