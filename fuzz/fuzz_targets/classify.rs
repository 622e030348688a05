//! Any bytes through `classify` (whole, and as a chain whose first segment is a prefix), then
//! through both L2 dispatch directions (and a guest's) under every port flag, one slave down,
//! and through a guest's MAC rewrite, and mode l3's decisions and answers, and mode l3s's
//! filters: no panic, and the invariants below hold.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use switch_core::classify::{
    classify, unicast_destination, usual_unicast_destination, Classified, DstKind, Key, ETH_HLEN,
};
use switch_core::dispatch::{Dispatch, DropReason, Flood, McFilter, Multicast, Verdict};
use switch_core::filter::{Action, Connections, Filter, Filters, Flow, SlaveFilters};
use switch_core::guest_mac::to_master;
use switch_core::icmp::{unreachable, Unreachable, UNREACHABLE_MAX};
use switch_core::neighbour::{answer, learned, ANSWER_MAX};
use switch_core::routes::{Route, Routes};
use switch_core::state::SlaveStates;
use switch_core::table::{AddressTable, SlaveId};
use switch_core::PortFlags;

const SLAVES: SlaveId = 4;
/// Owns 10.0.0.4, but is down: as if it owned nothing.
const DOWN: SlaveId = 3;
const MASTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

/// One switch per port flag, sharing a table the fuzzer can hit easily (all-zero addresses
/// included) and realistic ones.
fn dispatches() -> &'static [Dispatch; 3] {
    static DISPATCHES: OnceLock<[Dispatch; 3]> = OnceLock::new();
    DISPATCHES.get_or_init(|| {
        [PortFlags::Bridge, PortFlags::Private, PortFlags::Vepa].map(|flags| Dispatch {
            flags,
            master_mac: MASTER_MAC,
            table: AddressTable::new([
                (Key::V4(0), 0),
                (Key::V4(0x0a00_0001), 1),           // 10.0.0.1
                (Key::V6(0), 2),                     // ::
                (Key::V6(0x2001_0db8 << 96 | 1), 3), // 2001:db8::1
                (Key::V4(0x0a00_0002), 2),           // 10.0.0.2
                (Key::V4(0x0a00_0004), DOWN),        // 10.0.0.4
            ]),
            multicast: Multicast::new(
                (0..SLAVES)
                    .map(|s| McFilter {
                        groups: vec![[0x01, 0x00, 0x5e, 0, 0, 0xfb]],
                        allmulti: s == 1,
                    })
                    .collect(),
            ),
            states: {
                let states = SlaveStates::new(usize::from(SLAVES), true);
                states.set(DOWN, false);
                Arc::new(states)
            },
        })
    })
}

/// The slave a key belongs to, as the dispatch must see it: nobody when its owner is down.
fn owner(d: &Dispatch, key: Option<Key>) -> Option<SlaveId> {
    key.and_then(|k| d.table.lookup(k)).filter(|&s| s != DOWN)
}

fn check_classification(data: &[u8], c: &Classified) {
    assert_eq!(c.dst[..], data[0..6]);
    assert_eq!(c.src[..], data[6..12]);
    let expected_kind = if data[0] & 1 == 0 {
        DstKind::Unicast
    } else if data[0..6] == [0xff; 6] {
        DstKind::Broadcast
    } else {
        DstKind::Multicast
    };
    assert_eq!(c.dst_kind, expected_kind);
    let outer = u16::from_be_bytes([data[12], data[13]]);
    assert_eq!(c.tagged, outer == 0x8100 || outer == 0x88a8);
    if !c.tagged {
        assert_eq!(c.ethertype, outer);
    }
    assert_eq!(c.dst_key.is_some(), c.src_key.is_some());
    let l3_len = (data.len() - ETH_HLEN).saturating_sub(if c.tagged { 4 } else { 0 });
    match (c.ethertype, c.dst_key, c.src_key) {
        (_, None, None) => {}
        (0x0806, Some(Key::V4(_)), Some(Key::V4(_))) => assert!(l3_len >= 28),
        (0x0800, Some(Key::V4(_)), Some(Key::V4(_))) => assert!(l3_len >= 20),
        (0x86dd, Some(Key::V6(_)), Some(Key::V6(_))) => assert!(l3_len >= 40),
        _ => panic!("a key of the wrong family or for a keyless ethertype: {c:?}"),
    }
}

/// Mode l3's routes: the master at 10.0.0.100/24 and 2001:db8::100/64, default routes.
fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let ip = |t: &str| t.parse().unwrap();
        Routes::new(
            &[(ip("10.0.0.100"), 24), (ip("2001:db8::100"), 64)],
            &[
                (ip("0.0.0.0"), 0, ip("10.0.0.254")),
                (ip("::"), 0, ip("2001:db8::fe")),
            ],
            &dispatches()[0].table,
        )
    })
}

/// Mode l3s: a filter denying everything but what slave 0 sends and its replies turns a
/// verdict into itself or `Filtered`, never anything else; a flow is the frame's.
fn check_filtered(sender: SlaveId, v: Verdict, data: &[u8]) {
    static FILTERS: OnceLock<(Vec<Option<Arc<SlaveFilters>>>, Connections)> = OnceLock::new();
    let (slaves, connections) = FILTERS.get_or_init(|| {
        let deny = || Some(Filter::new(Vec::new(), Action::Deny, true));
        let guarded = Arc::new(SlaveFilters {
            ingress: deny(),
            egress: None,
        });
        (
            (0..SLAVES).map(|_| Some(guarded.clone())).collect(),
            Connections::new(64, 10, 10),
        )
    });
    let filters = Filters {
        slaves,
        connections,
        now: 1,
    };
    for filtered in [filters.from_slave(sender, v, data), filters.from_phy(v, data)] {
        assert!(
            filtered == v || filtered == Verdict::Drop(DropReason::Filtered),
            "{v:?} became {filtered:?}"
        );
    }
    if let Some(flow) = Flow::of(data) {
        assert_eq!(flow.reversed().reversed(), flow);
        assert!(data.len() >= ETH_HLEN + 20);
    }
}

/// Mode l3 both ways: a routed frame's next hop is on a connected network, an answered one
/// gets an answer from the master's MAC to its sender.
fn check_l3(d: &Dispatch, sender: SlaveId, data: &[u8]) {
    let v = d.from_slave_l3(routes(), sender, data, data.len());
    check_verdict(d, v);
    // The datapath's shortcut decides as the whole decision, where it decides.
    if let Some(gateway) = d.from_slave_l3_gateway(routes(), data, data.len()) {
        assert_eq!(v, Verdict::Gateway(gateway));
    }
    if matches!(v, Verdict::Route | Verdict::Gateway(_) | Verdict::Host(_)) && d.flags != PortFlags::Vepa {
        // An up slave's address is delivered, never routed: the trie's marks send it to the
        // slave table.
        assert_eq!(owner(d, unicast_destination(data, data.len())), None);
    }
    match v {
        Verdict::Route => {
            // The datapath's next hop: the destination, read from the frame again.
            let next_hop = unicast_destination(data, data.len()).expect("a routed frame's destination");
            assert_eq!(routes().lookup(next_hop), Some(Route::Connected));
        }
        Verdict::Gateway(id) => {
            let gateway = routes().gateway(id).expect("a gateway's id");
            assert_eq!(routes().lookup(gateway), Some(Route::Connected));
        }
        Verdict::Answer => {
            let mut out = [0u8; ANSWER_MAX];
            let len = answer(data, &MASTER_MAC, &mut out).expect("an answered frame asks something");
            assert!(len >= 60);
            assert_eq!((&out[0..6], &out[6..12]), (&data[6..12], &MASTER_MAC[..]));
        }
        _ => {}
    }
    check_filtered(sender, v, data);
    for proxy in [false, true] {
        let v = d.from_phy_l3(routes(), proxy, data, data.len());
        check_verdict(d, v);
        check_filtered(sender, v, data);
        if v == Verdict::Answer {
            let mut out = [0u8; ANSWER_MAX];
            assert!(
                answer(data, &MASTER_MAC, &mut out).is_some(),
                "an answered frame asks something"
            );
        }
    }
    let _ = learned(data);
    // An ICMP error about any frame, of either family, fits its buffer and quotes the frame.
    let mut error = [0u8; UNREACHABLE_MAX];
    for (source, why) in [Key::V4(0x0a00_0064), Key::V6(0x2001_0db8 << 96 | 0x100)]
        .into_iter()
        .zip([Unreachable::NoRoute, Unreachable::Host])
    {
        if let Some(len) = unreachable(data, why, source, &MASTER_MAC, &mut error) {
            assert_eq!(&error[0..6], &data[6..12]);
            assert!(len > ETH_HLEN + 20);
        }
    }
}

fn check_verdict(d: &Dispatch, v: Verdict) {
    match v {
        Verdict::Slave(s) => assert!(s < SLAVES && s != DOWN, "slave {s} out of range or down"),
        Verdict::Flood(Flood { except: Some(s), .. }) => assert!(s < SLAVES, "except {s} out of range"),
        Verdict::Drop(DropReason::Private) => assert_eq!(d.flags, PortFlags::Private),
        _ => {}
    }
}

fn check_from_slave(d: &Dispatch, sender: SlaveId, c: &Classified) {
    let v = d.from_slave(sender, Some(c));
    check_verdict(d, v);
    // dst == src (and not vepa) is decided locally; everything else by the dst MAC.
    let local = c.dst_is_src() && d.flags != PortFlags::Vepa;
    match v {
        Verdict::Slave(owner) => {
            assert_eq!(d.flags, PortFlags::Bridge);
            assert!(local && !c.tagged);
            assert_eq!(self::owner(d, c.dst_key), Some(owner));
        }
        Verdict::Host(_) | Verdict::Drop(DropReason::Private) => assert!(local),
        Verdict::Flood(Flood {
            except,
            to_slaves,
            to_phy,
            to_host,
        }) => {
            assert!(!local && c.is_multicast());
            assert_eq!(
                (except, to_slaves, to_phy, to_host),
                (Some(sender), true, true, false)
            );
        }
        Verdict::Drop(DropReason::Pause) => {
            assert!(!local && c.is_multicast() && !c.tagged && c.ethertype == 0x8808)
        }
        Verdict::Phy => assert!(!local && !c.is_multicast()),
        Verdict::Drop(other) => panic!("from_slave dropped a classified frame as {other:?}"),
        Verdict::Announce(_)
        | Verdict::Route
        | Verdict::Gateway(_)
        | Verdict::Answer
        | Verdict::ToResolver => {
            panic!("from_slave gave {v:?}")
        }
    }
}

fn check_from_phy(d: &Dispatch, c: &Classified) {
    let v = d.from_phy(Some(c));
    check_verdict(d, v);
    let owner = owner(d, c.dst_key);
    match v {
        Verdict::Slave(s) => {
            assert!(!c.is_multicast());
            assert_eq!(owner, Some(s));
        }
        Verdict::Host(reason) => {
            assert!(!c.is_multicast());
            assert_eq!(owner, None);
            let expected = if c.dst_key.is_some() {
                DropReason::NoOwner
            } else {
                DropReason::NoKey
            };
            assert_eq!(reason, expected);
        }
        Verdict::Flood(Flood {
            except,
            to_slaves,
            to_phy,
            to_host,
        }) => {
            assert!(c.is_multicast());
            assert_eq!((except, to_phy, to_host), (None, false, true));
            let reflected = c.src == MASTER_MAC && self::owner(d, c.src_key).is_some();
            assert_eq!(to_slaves, !reflected && c.ethertype != 0x8808);
            for slave in 0..SLAVES {
                let takes = d.takes_multicast(slave, &c.dst);
                assert!(!takes || slave != DOWN, "a down slave takes multicast");
            }
            // The fan-out's precomputed takers, those up, are what the filters say.
            let up = d
                .multicast
                .takers(&c.dst)
                .iter()
                .copied()
                .filter(|&s| d.states.is_up(s));
            let filtered = (0..SLAVES).filter(|&s| d.takes_multicast(s, &c.dst));
            assert!(up.eq(filtered));
        }
        Verdict::Phy
        | Verdict::Drop(_)
        | Verdict::Announce(_)
        | Verdict::Route
        | Verdict::Gateway(_)
        | Verdict::Answer
        | Verdict::ToResolver => {
            panic!("from_phy gave {v:?}")
        }
    }
}

/// A guest's frame from anything but the master's unicast MAC gets the master's as source,
/// keeps its length, and dispatches as before but for its source MAC.
fn check_to_master(data: &[u8], whole: &Classified) {
    let mut frame = data.to_vec();
    let learned = to_master(&mut frame, &MASTER_MAC);
    assert_eq!(frame.len(), data.len());
    let Some(own) = learned else {
        assert!(data[6..12] == MASTER_MAC || data[6] & 1 == 1);
        assert_eq!(frame, data);
        return;
    };
    assert_eq!(own[..], data[6..12]);
    assert_eq!(frame[6..12], MASTER_MAC);
    let c = classify(&frame, frame.len()).unwrap();
    assert_eq!(
        c,
        Classified {
            src: MASTER_MAC,
            ..*whole
        }
    );
}

/// A guest's frame dispatches as a slave's, but for the RARP of a migrated guest.
fn check_from_guest(d: &Dispatch, sender: SlaveId, c: &Classified) {
    let v = d.from_guest(sender, Some(c));
    if c.ethertype == 0x8035 && !c.tagged {
        assert_eq!(v, Verdict::Announce(sender));
    } else {
        assert_eq!(v, d.from_slave(sender, Some(c)));
    }
}

/// The same frame as a chain whose first segment holds only `head` bytes: the same
/// classification, except that a key whose header is not all in the first segment is lost.
fn check_chained(data: &[u8], whole: &Classified, head: usize) {
    let Some(c) = classify(&data[..head], data.len()) else {
        panic!("a first segment of {head} >= 14 bytes did not classify");
    };
    assert_eq!(
        (c.dst, c.src, c.dst_kind, c.tagged),
        (whole.dst, whole.src, whole.dst_kind, whole.tagged)
    );
    // A tag cut by the segment's end hides the inner ethertype.
    if head >= ETH_HLEN + 4 {
        assert_eq!(c.ethertype, whole.ethertype);
    }
    assert!(
        c.dst_key.is_none() || c.dst_key == whole.dst_key,
        "{c:?} vs {whole:?}"
    );
    assert!(
        c.src_key.is_none() || c.src_key == whole.src_key,
        "{c:?} vs {whole:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let classified = classify(data, data.len());
    assert_eq!(classified.is_none(), data.len() < ETH_HLEN);
    if let Some(c) = &classified {
        // The first byte picks where the first segment ends.
        let head = ETH_HLEN + usize::from(data[0]) % (data.len() - ETH_HLEN + 1);
        check_chained(data, c, head);
        check_to_master(data, c);
    }
    for d in dispatches() {
        if let Some(c) = &classified {
            check_classification(data, c);
            let sender = SlaveId::from(data[data.len() - 1]) % SLAVES;
            check_from_slave(d, sender, c);
            check_from_guest(d, sender, c);
            // Deciding from the bytes, MACs first, is deciding from the classification.
            assert_eq!(
                d.from_slave_frame(sender, data, data.len()),
                d.from_slave(sender, Some(c))
            );
            assert_eq!(
                d.from_guest_frame(sender, data, data.len()),
                d.from_guest(sender, Some(c))
            );
            assert_eq!(d.from_phy_frame(data, data.len()), d.from_phy(Some(c)));
            // The usual frame's inline key is the classification's, where it gives one.
            if let Some(key) = usual_unicast_destination(data, data.len()) {
                assert!(!c.tagged && !c.is_multicast() && c.dst_key == Some(key));
            }
            check_from_phy(d, c);
            check_l3(d, sender, data);
        } else {
            assert_eq!(
                d.from_slave_l3(routes(), 0, data, data.len()),
                Verdict::Drop(DropReason::Malformed)
            );
            assert_eq!(d.from_slave(0, None), Verdict::Drop(DropReason::Malformed));
            assert_eq!(
                d.from_slave_frame(0, data, data.len()),
                Verdict::Drop(DropReason::Malformed)
            );
            assert_eq!(
                d.from_guest_frame(0, data, data.len()),
                Verdict::Drop(DropReason::Malformed)
            );
            assert_eq!(
                d.from_phy_frame(data, data.len()),
                Verdict::Drop(DropReason::Malformed)
            );
            assert_eq!(d.from_phy(None), Verdict::Drop(DropReason::Malformed));
        }
    }
});
