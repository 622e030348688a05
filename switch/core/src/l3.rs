//! The mode-l3 dispatch decisions (kernel: ipvlan_xmit_mode_l3, ipvlan_handle_mode_l3), with
//! what the master's stack does there and the switch supplies: routing to the phy, and the
//! answers to a slave's ARP and Neighbour Solicitations (a vhost guest is no NOARP slave: it
//! resolves its gateway and its peers, and every answer is the master's MAC, so that it hands
//! all traffic to the switch).

use crate::classify::{classify, usual_unicast_destination, Key, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::dispatch::{Dispatch, DropReason, Verdict};
use crate::neighbour::{self, Solicitation};
use crate::routes::{GatewayId, Route, Routes, Toward};
use crate::table::SlaveId;
use crate::PortFlags;

impl Dispatch {
    /// A frame slave `sender` sent, in mode l3. Its ARP requests and NS are answered (or, if
    /// probes, dropped) before anything else; then, as the kernel: a destination a slave owns
    /// is delivered locally (private: dropped), whatever the MACs; else multicast and non-IP
    /// are dropped and the rest is routed: the master's own address to the host, a connected
    /// or routed destination to the phy through its next hop. Forced inline: the datapath's
    /// routed path measured ~9 % fewer cycles per packet with it in the loop.
    #[inline(always)]
    pub fn from_slave_l3(&self, routes: &Routes, sender: SlaveId, frame: &[u8], frame_len: usize) -> Verdict {
        // The usual frame, an untagged unicast IP frame that is no NS, needs its destination
        // only: decided as below without classifying the rest.
        if let Some(destination) = usual_unicast_destination(frame, frame_len) {
            return self.unicast_l3(routes, destination);
        }
        let Some(c) = classify(frame, frame_len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if !c.tagged {
            match neighbour::solicitation(frame) {
                Some(Solicitation::Probe) => return Verdict::Drop(DropReason::Probe),
                Some(Solicitation::Resolve(target)) => {
                    return match self.owner_of(target) == Some(sender) {
                        true => Verdict::Drop(DropReason::Probe),
                        false => Verdict::Answer,
                    }
                }
                None => {}
            }
        }
        // A tagged frame from a slave counts as "other": no key.
        let key = if c.tagged { None } else { c.dst_key };
        if let Some(local) = key.and_then(|k| self.local(k)) {
            return local;
        }
        if c.is_multicast() {
            return Verdict::Drop(DropReason::L3Multicast);
        }
        if c.tagged || !matches!(c.ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6) {
            return Verdict::Drop(DropReason::NotIp);
        }
        // An IP header that does not parse (an IPv4 total length beyond the bytes present
        // among them) is not routed: dropped and counted, where the kernel's output path would
        // trim or refuse it.
        match key {
            Some(destination) => self.unicast_l3(routes, destination),
            None => Verdict::Drop(DropReason::Malformed),
        }
    }

    /// The common case of `from_slave_l3`, an untagged unicast IP frame to a destination
    /// outside every slave's leaf, routed through a gateway: that gateway; `None` for any
    /// other frame. Apart from the `Verdict`, so that the datapath can route it without
    /// building and matching one.
    #[inline(always)]
    pub fn from_slave_l3_gateway(
        &self,
        routes: &Routes,
        frame: &[u8],
        frame_len: usize,
    ) -> Option<GatewayId> {
        // IPv4 with options and the rest take the full decision.
        usual_unicast_destination(frame, frame_len)
            .and_then(|destination| routes.leaf(destination).unowned_gateway())
    }

    /// A destination a slave owns: delivered to it (private: dropped); vepa skips this.
    #[inline(always)]
    fn local(&self, destination: Key) -> Option<Verdict> {
        if self.flags == PortFlags::Vepa {
            return None;
        }
        self.owner_of(destination).map(|owner| match self.flags {
            PortFlags::Private => Verdict::Drop(DropReason::Private),
            _ => Verdict::Slave(owner),
        })
    }

    /// An IP unicast frame's verdict from its destination: local delivery, else routed. The
    /// slave table is read only under a leaf where a slave owns an address (the trie marks
    /// them): a frame routed outside is decided by the trie alone.
    #[inline(always)]
    fn unicast_l3(&self, routes: &Routes, destination: Key) -> Verdict {
        let leaf = routes.leaf(destination);
        if leaf.may_be_owned() {
            if let Some(local) = self.local(destination) {
                return local;
            }
        }
        match leaf.toward() {
            Some(Toward::Local) => Verdict::Host(DropReason::NoHost),
            Some(Toward::Connected) => Verdict::Route,
            Some(Toward::Gateway(gateway)) => Verdict::Gateway(gateway),
            None => Verdict::Drop(DropReason::NoRoute),
        }
    }

    /// A frame from the wire, in mode l3. An ARP request or NS for one of the master's
    /// addresses (with `proxy`, a slave's too) sent to broadcast, a multicast group or the
    /// master's MAC is answered (one to a foreign unicast MAC is not, as the kernel ignores
    /// it); then to the slave owning its destination whatever the MAC (a broadcast ARP for a
    /// slave's address included); an ARP reply or NA to the resolver; else to the host only
    /// (IP multicast and broadcast too).
    #[inline]
    pub fn from_phy_l3(&self, routes: &Routes, proxy: bool, frame: &[u8], frame_len: usize) -> Verdict {
        let Some(c) = classify(frame, frame_len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let to_us = c.is_multicast() || c.dst == self.master_mac;
        if to_us && !c.tagged {
            if let Some(Solicitation::Resolve(target)) = neighbour::solicitation(frame) {
                let ours = routes.lookup(target) == Some(Route::Local);
                if ours || (proxy && self.owner_of(target).is_some()) {
                    return Verdict::Answer;
                }
            }
        }
        match self.owner_of_key(c.dst_key) {
            Some(owner) => Verdict::Slave(owner),
            None if to_us && !c.tagged && neighbour::is_advertisement(frame) => Verdict::ToResolver,
            None if c.dst_key.is_none() => Verdict::Host(DropReason::NoKey),
            None => Verdict::Host(DropReason::NoOwner),
        }
    }

    /// The up slave owning `key`.
    #[inline(always)]
    fn owner_of_key(&self, key: Option<Key>) -> Option<SlaveId> {
        key.and_then(|k| self.owner_of(k))
    }

    #[inline(always)]
    fn owner_of(&self, key: Key) -> Option<SlaveId> {
        self.table.lookup(key).filter(|&slave| self.states.is_up(slave))
    }
}
