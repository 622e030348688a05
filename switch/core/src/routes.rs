//! Mode l3's route table: longest-prefix match over the master's own addresses (local), its
//! connected networks and the configured routes, IPv4 and IPv6 apart, each in a multibit trie
//! with prefix expansion (DIR-16-8-8...: the first 16 bits of an address index a root of 65,536
//! slots, each further byte a chunk of 256), so that a lookup is one read per level below the
//! root the table needs: two for an IPv4 /24, three for a host route, whatever the table holds.
//! A leaf also tells whether a slave may own an address under it (one does under the same
//! leaf): only then need a slave's frame be looked up in the slave table, so a routed frame
//! to the outside pays for the trie alone.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::classify::Key;
use crate::table::AddressTable;

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

/// A configured route's gateway, as a small index: the lcores keep its MAC in a vector by it.
pub type GatewayId = u32;

/// Where a destination goes, as `Routes::toward` tells it from the trie's leaf alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    Local,
    Connected,
    Gateway(GatewayId),
}

/// The routes of both families.
#[derive(Default)]
pub struct Routes {
    v4: Trie<u32>,
    v6: Trie<u128>,
    /// What the tries' leaves name, each once, by the index in their leaf: a `Via`'s is its
    /// `GatewayId`.
    routes: Vec<Route>,
}

impl Routes {
    /// The master's addresses (each a local host route and a connected network) and the
    /// configured routes `(network, prefix length, next hop)`. Where two give one network,
    /// the first stands: local, then connected, then configured, as the kernel's local table
    /// comes before its main one. The leaves holding an address of `slaves` are marked as
    /// ones a slave may own (`Leaf::may_be_owned`).
    pub fn new(master: &[(IpAddr, u8)], routes: &[(IpAddr, u8, IpAddr)], slaves: &AddressTable) -> Routes {
        let mut entries = Vec::new();
        for &(address, prefix) in master {
            let host = if address.is_ipv4() { 32 } else { 128 };
            entries.push((address, host, Route::Local));
            entries.push((address, prefix, Route::Connected));
        }
        for &(network, prefix, via) in routes {
            entries.push((network, prefix, Route::Via(Key::from(via))));
        }
        let mut table = Routes::default();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let mut seen = HashSet::new();
        for (network, prefix, route) in entries {
            let leaf = table.leaf_naming(route);
            match network {
                IpAddr::V4(a) => v4.push((u32::from(a), prefix.min(32), leaf)),
                IpAddr::V6(a) => v6.push((u128::from(a), prefix.min(128), leaf)),
            }
        }
        v4.retain(|&(a, prefix, _)| seen.insert((masked(Key::V4(a), prefix), prefix)));
        v6.retain(|&(a, prefix, _)| seen.insert((masked(Key::V6(a), prefix), prefix)));
        table.v4 = Trie::new(v4);
        table.v6 = Trie::new(v6);
        for key in slaves.keys() {
            match key {
                Key::V4(a) => table.v4.mark_owned(a),
                Key::V6(a) => table.v6.mark_owned(a),
            }
        }
        table
    }

    /// The leaf naming `route`: its kind and its index.
    fn leaf_naming(&mut self, route: Route) -> Slot {
        let at = match self.routes.iter().position(|r| *r == route) {
            Some(at) => at,
            None => {
                self.routes.push(route);
                self.routes.len() - 1
            }
        };
        let kind = match route {
            Route::Local => LOCAL,
            Route::Connected => CONNECTED,
            Route::Via(_) => VIA,
        };
        kind | Slot::try_from(at)
            .ok()
            .filter(|&at| at <= INDEX)
            .expect("fewer than 2^28 routes")
    }

    /// The route of the longest prefix holding `destination`.
    #[inline]
    pub fn lookup(&self, destination: Key) -> Option<Route> {
        let leaf = self.leaf_of(destination);
        match leaf & KIND {
            EMPTY => None,
            _ => self.routes.get((leaf & INDEX) as usize).copied(),
        }
    }

    /// Where `destination` goes, from its leaf alone (no route read).
    #[inline(always)]
    pub fn toward(&self, destination: Key) -> Option<Toward> {
        self.leaf(destination).toward()
    }

    /// The leaf of `destination`: what a frame's decision needs.
    #[inline(always)]
    pub fn leaf(&self, destination: Key) -> Leaf {
        Leaf(self.leaf_of(destination))
    }

    #[inline(always)]
    fn leaf_of(&self, destination: Key) -> Slot {
        match destination {
            Key::V4(a) => self.v4.lookup(a),
            Key::V6(a) => self.v6.lookup(a),
        }
    }

    /// The gateway `id` names.
    pub fn gateway(&self, id: GatewayId) -> Option<Key> {
        match self.routes.get(id as usize)? {
            Route::Via(gateway) => Some(*gateway),
            _ => None,
        }
    }

    /// The id of gateway `via`, if a route goes through it.
    pub fn gateway_id(&self, via: Key) -> Option<GatewayId> {
        let id = self.routes.iter().position(|r| *r == Route::Via(via))?;
        GatewayId::try_from(id).ok()
    }

    /// Every gateway with its id (ids run below `gateway_ids`).
    pub fn gateways(&self) -> impl Iterator<Item = (GatewayId, Key)> + '_ {
        (0..self.gateway_ids()).filter_map(|id| Some((id, self.gateway(id)?)))
    }

    /// One above the highest `GatewayId`.
    pub fn gateway_ids(&self) -> GatewayId {
        self.routes.len() as GatewayId
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

/// A trie leaf: where the destinations under it go, and whether a slave may own one.
#[derive(Debug, Clone, Copy)]
pub struct Leaf(Slot);

impl Leaf {
    /// A slave owns an address under this leaf: the slave table decides before the route.
    #[inline(always)]
    pub fn may_be_owned(self) -> bool {
        self.0 & OWNED != 0
    }

    /// The gateway of a leaf no slave may own an address under, the common routed case, in
    /// one compare (the kind is VIA, no OWNED or CHUNK bit); `None` for any other leaf.
    #[inline(always)]
    pub fn unowned_gateway(self) -> Option<GatewayId> {
        (self.0 & !INDEX == VIA).then_some(self.0 & INDEX)
    }

    #[inline(always)]
    pub fn toward(self) -> Option<Toward> {
        match self.0 & KIND {
            LOCAL => Some(Toward::Local),
            CONNECTED => Some(Toward::Connected),
            VIA => Some(Toward::Gateway(self.0 & INDEX)),
            _ => None,
        }
    }
}

/// `key`'s network bits under `prefix` (at most the family's width), the host bits zero.
pub(crate) fn masked(key: Key, prefix: u8) -> Key {
    match key {
        Key::V4(a) => Key::V4(a.masked(prefix.min(u32::WIDTH))),
        Key::V6(a) => Key::V6(a.masked(prefix.min(u128::WIDTH))),
    }
}

/// An address width the table masks and indexes.
trait Bits: Copy {
    const WIDTH: u8;
    fn masked(self, prefix: u8) -> Self;
    /// The 8 bits (16 at the root) below bit `WIDTH - consumed`.
    fn bits(self, consumed: u8, count: u8) -> usize;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    #[inline(always)]
    fn masked(self, prefix: u8) -> u32 {
        self & u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0)
    }
    #[inline(always)]
    fn bits(self, consumed: u8, count: u8) -> usize {
        ((self << consumed) >> (32 - count)) as usize
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    #[inline(always)]
    fn masked(self, prefix: u8) -> u128 {
        self & u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0)
    }
    #[inline(always)]
    fn bits(self, consumed: u8, count: u8) -> usize {
        ((self << consumed) >> (128 - count)) as usize
    }
}

/// A trie slot: `EMPTY` (no route), a leaf (its route's kind in `KIND`, its index in `INDEX`,
/// `OWNED` if a slave owns an address under it) or, with `CHUNK`, the index of the chunk of
/// 256 slots below it.
type Slot = u32;
const EMPTY: Slot = 0;
const CHUNK: Slot = 1 << 31;
const KIND: Slot = 3 << 29;
const LOCAL: Slot = 1 << 29;
const CONNECTED: Slot = 2 << 29;
const VIA: Slot = 3 << 29;
const OWNED: Slot = 1 << 28;
const INDEX: Slot = OWNED - 1;
const ROOT_BITS: u8 = 16;
const CHUNK_BITS: u8 = 8;
const CHUNK_SLOTS: usize = 1 << CHUNK_BITS;

/// One family's routes: the root's 65,536 slots, then the chunks, in one vector (none at all
/// for a family without routes).
struct Trie<A> {
    slots: Vec<Slot>,
    family: std::marker::PhantomData<A>,
}

impl<A> Default for Trie<A> {
    fn default() -> Self {
        Trie {
            slots: Vec::new(),
            family: std::marker::PhantomData,
        }
    }
}

impl<A: Bits> Trie<A> {
    /// The trie of `(masked network, prefix length, leaf)`, one per network. Inserted from the
    /// shortest prefix, each overwriting all it covers: what it covers so far is shorter.
    fn new(mut networks: Vec<(A, u8, Slot)>) -> Trie<A> {
        let mut trie = Trie::default();
        if networks.is_empty() {
            return trie;
        }
        trie.slots = vec![EMPTY; 1 << ROOT_BITS];
        networks.sort_by_key(|&(_, prefix, _)| prefix);
        for (network, prefix, leaf) in networks {
            trie.insert(network.masked(prefix), prefix, leaf);
        }
        trie
    }

    fn insert(&mut self, network: A, prefix: u8, leaf: Slot) {
        let (mut base, mut consumed, mut bits) = (0, 0, ROOT_BITS);
        loop {
            let first = base + network.bits(consumed, bits);
            if prefix <= consumed + bits {
                let covered = 1 << (consumed + bits - prefix);
                (first..first + covered).for_each(|at| self.fill(at, leaf));
                return;
            }
            base = self.chunk_at(first);
            consumed += bits;
            bits = CHUNK_BITS;
        }
    }

    /// Sets slot `at` to `leaf`, and every slot of the chunks below it.
    fn fill(&mut self, at: usize, leaf: Slot) {
        match self.slots[at] {
            slot if slot & CHUNK != 0 => {
                let chunk = (slot & !CHUNK) as usize;
                (chunk..chunk + CHUNK_SLOTS).for_each(|below| self.fill(below, leaf));
            }
            _ => self.slots[at] = leaf,
        }
    }

    /// The first slot of the chunk below slot `at`, made (holding what `at` held) if needed.
    fn chunk_at(&mut self, at: usize) -> usize {
        let slot = self.slots[at];
        if slot & CHUNK != 0 {
            return (slot & !CHUNK) as usize;
        }
        let chunk = self.slots.len();
        self.slots.resize(chunk + CHUNK_SLOTS, slot);
        self.slots[at] = CHUNK | Slot::try_from(chunk).expect("fewer than 2^31 trie slots");
        chunk
    }

    /// Marks the leaf holding `address` as one a slave may own (after every insert: a chunk
    /// made later would copy the mark to all its slots).
    fn mark_owned(&mut self, address: A) {
        if let Some((at, _)) = self.walk(address) {
            self.slots[at] |= OWNED;
        }
    }

    /// The leaf of the longest prefix holding `address`, or `EMPTY`; in a family without
    /// routes, `EMPTY | OWNED`: only the slave table can tell where its frames go.
    #[inline(always)]
    fn lookup(&self, address: A) -> Slot {
        self.walk(address).map_or(EMPTY | OWNED, |(_, leaf)| leaf)
    }

    /// The slot holding `address`'s leaf: (its index, the leaf); `None`: the trie is empty.
    #[inline(always)]
    fn walk(&self, address: A) -> Option<(usize, Slot)> {
        let mut at = address.bits(0, ROOT_BITS);
        let (mut slot, mut consumed) = (*self.slots.get(at)?, ROOT_BITS);
        // A chunk is only made above a longer prefix, so consumed stays below WIDTH.
        while slot & CHUNK != 0 && consumed < A::WIDTH {
            at = (slot & !CHUNK) as usize + address.bits(consumed, CHUNK_BITS);
            slot = *self.slots.get(at)?;
            consumed += CHUNK_BITS;
        }
        Some((at, slot))
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
            &AddressTable::new([(v4("10.0.0.11"), 0), (v4("10.1.2.3"), 1)]),
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

    /// The trie against a linear longest-prefix search, over random tables of both families
    /// with nested prefixes of every length (a fixed-seed generator: reproducible).
    #[test]
    fn the_trie_agrees_with_a_linear_search() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for v6 in [false, true] {
            let width = if v6 { 128u8 } else { 32 };
            let address = |bits: u128| -> IpAddr {
                match v6 {
                    true => IpAddr::V6(bits.into()),
                    false => IpAddr::V4((bits as u32).into()),
                }
            };
            // Few top bits, so that prefixes nest and share chunks.
            let random = |n: &mut dyn FnMut() -> u64| {
                let high = u128::from(n() % 4) << (width - 2);
                high | (u128::from(n()) << 64 | u128::from(n())) >> (130 - u32::from(width))
            };
            let mut routes = Vec::new();
            for i in 0..300u64 {
                let prefix = (next() % (u64::from(width) + 1)) as u8;
                let network = Key::from(address(random(&mut next)));
                let masked = match network {
                    Key::V4(a) => address(u128::from(a.masked(prefix))),
                    Key::V6(a) => address(a.masked(prefix)),
                };
                routes.push((masked, prefix, address(u128::from(i as u32 + 1))));
            }
            let slaves: Vec<_> = (0..100)
                .map(|i| (Key::from(address(random(&mut next))), i))
                .collect();
            let table = Routes::new(&[], &routes, &AddressTable::new(slaves.clone()));
            for &(slave, _) in &slaves {
                assert!(table.leaf(slave).may_be_owned(), "{slave:?}");
            }
            let linear = |destination: Key| {
                let within = |&&(network, prefix, _): &&(IpAddr, u8, IpAddr)| match (
                    destination,
                    Key::from(network),
                ) {
                    (Key::V4(d), Key::V4(n)) => d.masked(prefix) == n,
                    (Key::V6(d), Key::V6(n)) => d.masked(prefix) == n,
                    _ => false,
                };
                let longest = routes.iter().filter(within).map(|r| r.1).max()?;
                let first = routes.iter().filter(within).find(|r| r.1 == longest)?;
                Some(Route::Via(Key::from(first.2)))
            };
            for _ in 0..20_000 {
                let destination = Key::from(address(random(&mut next)));
                assert_eq!(table.lookup(destination), linear(destination), "{destination:?}");
            }
            for &(network, _, _) in &routes {
                assert_eq!(table.lookup(Key::from(network)), linear(Key::from(network)));
            }
        }
    }

    #[test]
    fn without_a_default_an_outside_address_has_no_route() {
        let routes = Routes::new(&[("10.0.0.1".parse().unwrap(), 24)], &[], &AddressTable::new([]));
        assert_eq!(routes.lookup(v4("192.0.2.1")), None);
        assert_eq!(routes.lookup(Key::V6(1)), None);
    }

    #[test]
    fn a_leaf_holding_a_slaves_address_is_marked_and_no_other() {
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let slaves = AddressTable::new([(v4("10.0.0.11"), 0), (v4("10.1.2.3"), 1), (v4("10.9.0.1"), 2)]);
        let routes = Routes::new(
            &[(ip("10.0.0.1"), 24)],
            &[
                (ip("0.0.0.0"), 0, ip("10.0.0.254")),
                (ip("10.1.0.0"), 16, ip("10.0.0.253")),
                (ip("20.0.0.0"), 24, ip("10.0.0.252")),
            ],
            &slaves,
        );
        let owned = |t: &str| routes.leaf(v4(t)).may_be_owned();
        // The leaf is the mark's grain: the /16 of 10.1.2.3, the default route's root slot
        // (10.9.0.0/16) of 10.9.0.1; the master's own host route split the connected /24 into
        // one leaf per address, so there only 10.0.0.11's.
        for marked in ["10.0.0.11", "10.1.2.3", "10.1.200.1", "10.9.0.1", "10.9.255.1"] {
            assert!(owned(marked), "{marked}");
        }
        for unmarked in [
            "10.0.0.7",
            "10.0.1.1",
            "10.2.0.1",
            "20.0.0.1",
            "192.0.2.1",
            "10.0.0.1",
        ] {
            assert!(!owned(unmarked), "{unmarked}");
        }
        // What the marks leave alone: the routes.
        assert_eq!(routes.lookup(v4("10.0.0.11")), Some(Route::Connected));
        assert_eq!(routes.next_hop(v4("10.9.0.1")), Some(v4("10.0.0.254")));
        assert_eq!(routes.next_hop(v4("10.1.2.3")), Some(v4("10.0.0.253")));
        // A family without routes: only the slave table knows.
        assert!(routes.leaf(Key::V6(1)).may_be_owned());
        assert_eq!(routes.lookup(Key::V6(1)), None);
    }
}
