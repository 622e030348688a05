//! `Dispatch` against sections 3 (L2 mode) and 5 (port flags) of the ipvlan semantics.

mod common;

use std::net::Ipv4Addr;

use common::*;
use switch_core::classify::classify;
use switch_core::dispatch::{DropReason, Flood, McFilter, Multicast, Verdict};
use switch_core::table::SlaveId;
use switch_core::PortFlags;

fn from_slave(flags: PortFlags, sender: SlaveId, frame: &[u8]) -> Verdict {
    dispatch(flags).from_slave(sender, classify(frame, frame.len()).as_ref())
}

fn from_phy(flags: PortFlags, frame: &[u8]) -> Verdict {
    dispatch(flags).from_phy(classify(frame, frame.len()).as_ref())
}

/// What a slave's multicast becomes: copies to the other slaves, then the wire; not the host.
fn slave_flood(sender: SlaveId) -> Verdict {
    Verdict::Flood(Flood {
        except: Some(sender),
        to_slaves: true,
        to_phy: true,
        to_host: false,
    })
}

/// What a multicast from the wire becomes: the host, plus the slaves unless `reflected`.
fn phy_flood(reflected: bool) -> Verdict {
    Verdict::Flood(Flood {
        except: None,
        to_slaves: !reflected,
        to_phy: false,
        to_host: true,
    })
}

/// A frame a slave addresses to another slave or to the host in L2 mode: dst MAC = src MAC.
fn local_ipv4(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    ipv4_frame(MASTER_MAC, MASTER_MAC, src, dst)
}

fn lldp(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    eth(dst, src, ETHERTYPE_LLDP, &[0; 46])
}

// ---- malformed ----

#[test]
fn frame_shorter_than_ethernet_header_is_dropped_as_malformed_both_ways() {
    let frame = local_ipv4(SLAVE0_V4, SLAVE1_V4);
    for flags in ALL_FLAGS {
        assert_eq!(
            from_slave(flags, 0, &frame[..13]),
            Verdict::Drop(DropReason::Malformed)
        );
        assert_eq!(
            from_phy(flags, &frame[..13]),
            Verdict::Drop(DropReason::Malformed)
        );
    }
}

// ---- slave TX, dst MAC == src MAC ----

#[test]
fn bridge_slave_to_slave_goes_to_the_owner() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &local_ipv4(SLAVE0_V4, SLAVE1_V4)),
        Verdict::Slave(1)
    );
    assert_eq!(
        from_slave(PortFlags::Bridge, 1, &local_ipv4(SLAVE1_V4, SLAVE2_V4)),
        Verdict::Slave(2)
    );
    let v6_frame = ipv6_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V6, SLAVE1_V6);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &v6_frame), Verdict::Slave(1));
}

#[test]
fn bridge_slave_to_slave_arp_goes_to_the_target_ip_owner() {
    let frame = arp(MASTER_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE2_V4);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &frame), Verdict::Slave(2));
}

#[test]
fn bridge_slave_can_reach_itself() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &local_ipv4(SLAVE0_V4, SLAVE0_V4)),
        Verdict::Slave(0)
    );
}

#[test]
fn slave_to_slave_destination_is_the_key_owner_not_the_claimed_source() {
    // Source IP/MAC are neither checked nor rewritten: slave 2 sending "from" slave 0's address.
    assert_eq!(
        from_slave(PortFlags::Bridge, 2, &local_ipv4(SLAVE0_V4, SLAVE1_V4)),
        Verdict::Slave(1)
    );
}

#[test]
fn private_slave_to_slave_is_dropped() {
    for (sender, frame) in [
        (0, local_ipv4(SLAVE0_V4, SLAVE1_V4)),
        (0, local_ipv4(SLAVE0_V4, SLAVE0_V4)),
    ] {
        assert_eq!(
            from_slave(PortFlags::Private, sender, &frame),
            Verdict::Drop(DropReason::Private)
        );
    }
}

#[test]
fn private_slave_to_host_is_unaffected() {
    assert_eq!(
        from_slave(PortFlags::Private, 0, &local_ipv4(SLAVE0_V4, UNOWNED_V4)),
        Verdict::Host(DropReason::NoOwner)
    );
    assert_eq!(
        from_slave(PortFlags::Private, 0, &lldp(MASTER_MAC, MASTER_MAC)),
        Verdict::Host(DropReason::NoKey)
    );
}

#[test]
fn vepa_dst_equal_src_goes_to_the_wire_even_for_a_slave_or_the_host() {
    for dst in [SLAVE1_V4, SLAVE0_V4, UNOWNED_V4] {
        assert_eq!(
            from_slave(PortFlags::Vepa, 0, &local_ipv4(SLAVE0_V4, dst)),
            Verdict::Phy,
            "{dst}"
        );
    }
    assert_eq!(
        from_slave(PortFlags::Vepa, 0, &lldp(MASTER_MAC, MASTER_MAC)),
        Verdict::Phy
    );
}

#[test]
fn dst_equal_src_without_key_goes_to_the_host() {
    let malformed_ipv4 = truncated(local_ipv4(SLAVE0_V4, SLAVE1_V4), 1);
    for flags in [PortFlags::Bridge, PortFlags::Private] {
        assert_eq!(
            from_slave(flags, 0, &lldp(MASTER_MAC, MASTER_MAC)),
            Verdict::Host(DropReason::NoKey)
        );
        assert_eq!(
            from_slave(flags, 0, &malformed_ipv4),
            Verdict::Host(DropReason::NoKey)
        );
    }
}

#[test]
fn dst_equal_src_with_unowned_key_goes_to_the_host() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &local_ipv4(SLAVE0_V4, UNOWNED_V4)),
        Verdict::Host(DropReason::NoOwner)
    );
    let v6_frame = ipv6_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V6, UNOWNED_V6);
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &v6_frame),
        Verdict::Host(DropReason::NoOwner)
    );
}

#[test]
fn dst_equal_src_works_with_any_shared_mac() {
    // The test is dst == src, not "dst == master MAC".
    let frame = ipv4_frame(FOREIGN_MAC, FOREIGN_MAC, SLAVE0_V4, SLAVE1_V4);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &frame), Verdict::Slave(1));
}

#[test]
fn tagged_dst_equal_src_has_no_key_and_goes_to_the_host() {
    // On TX a tagged frame counts as "other", even though its inner header names a slave.
    let frame = local_ipv4(SLAVE0_V4, SLAVE1_V4);
    for tagged in [vlan_tagged(&frame, 5), service_tagged(&frame, 5)] {
        for flags in [PortFlags::Bridge, PortFlags::Private] {
            assert_eq!(from_slave(flags, 0, &tagged), Verdict::Host(DropReason::NoKey));
        }
    }
}

// ---- slave TX, multicast ----

#[test]
fn slave_multicast_floods_other_slaves_and_the_wire_not_the_host() {
    let frames = [
        ipv4_frame(
            MDNS_GROUP_MAC,
            MASTER_MAC,
            SLAVE0_V4,
            "224.0.0.251".parse().unwrap(),
        ),
        ipv6_frame(ALL_NODES_MAC, MASTER_MAC, SLAVE0_V6, ALL_NODES_V6),
        lldp(BROADCAST_MAC, MASTER_MAC),
    ];
    for flags in ALL_FLAGS {
        for frame in &frames {
            assert_eq!(from_slave(flags, 0, frame), slave_flood(0), "{flags:?}");
        }
    }
}

#[test]
fn slave_broadcast_arp_for_a_slave_ip_is_flooded_not_unicast_to_it() {
    // L2 mode does not look at the key of a multicast (L3 mode would).
    let frame = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4);
    for flags in ALL_FLAGS {
        assert_eq!(from_slave(flags, 0, &frame), slave_flood(0), "{flags:?}");
    }
}

#[test]
fn slave_dad_neighbour_solicitation_is_flooded() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 1, &dad_ns_frame(MASTER_MAC, SLAVE0_V6)),
        slave_flood(1)
    );
}

#[test]
fn slave_multicast_excludes_its_sender() {
    let frame = lldp(BROADCAST_MAC, MASTER_MAC);
    assert_eq!(from_slave(PortFlags::Bridge, 2, &frame), slave_flood(2));
}

#[test]
fn slave_pause_frame_is_dropped() {
    let pause = eth(PAUSE_MAC, MASTER_MAC, ETHERTYPE_PAUSE, &[0x00, 0x01, 0xff, 0xff]);
    for flags in ALL_FLAGS {
        assert_eq!(
            from_slave(flags, 0, &pause),
            Verdict::Drop(DropReason::Pause),
            "{flags:?}"
        );
    }
}

#[test]
fn slave_tagged_pause_frame_is_flooded() {
    // The kernel tests skb->protocol, which is the tag's 0x8100 here.
    let pause = vlan_tagged(
        &eth(PAUSE_MAC, MASTER_MAC, ETHERTYPE_PAUSE, &[0x00, 0x01, 0xff, 0xff]),
        1,
    );
    assert_eq!(from_slave(PortFlags::Bridge, 0, &pause), slave_flood(0));
}

#[test]
fn slave_unicast_pause_frame_goes_to_the_wire() {
    let pause = eth(
        FOREIGN_MAC,
        MASTER_MAC,
        ETHERTYPE_PAUSE,
        &[0x00, 0x01, 0xff, 0xff],
    );
    assert_eq!(from_slave(PortFlags::Bridge, 0, &pause), Verdict::Phy);
}

// ---- slave TX, other unicast ----

#[test]
fn slave_unicast_to_foreign_mac_goes_to_the_wire() {
    let frame = ipv4_frame(FOREIGN_MAC, MASTER_MAC, SLAVE0_V4, EXTERNAL_V4);
    for flags in ALL_FLAGS {
        assert_eq!(from_slave(flags, 0, &frame), Verdict::Phy, "{flags:?}");
    }
}

#[test]
fn slave_unicast_to_foreign_mac_goes_to_the_wire_even_if_its_ip_is_another_slaves() {
    let frames = [
        ipv4_frame(FOREIGN_MAC, MASTER_MAC, SLAVE0_V4, SLAVE1_V4),
        ipv6_frame(FOREIGN_MAC, MASTER_MAC, SLAVE0_V6, SLAVE1_V6),
    ];
    for flags in ALL_FLAGS {
        for frame in &frames {
            assert_eq!(from_slave(flags, 0, frame), Verdict::Phy, "{flags:?}");
        }
    }
}

// ---- phy RX, unicast ----

#[test]
fn phy_unicast_goes_to_the_destination_owner() {
    let frames = [
        (ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 1),
        (ipv6_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V6, SLAVE0_V6), 0),
        (arp(MASTER_MAC, FOREIGN_MAC, ARP_REPLY, EXTERNAL_V4, SLAVE2_V4), 2),
    ];
    for flags in ALL_FLAGS {
        for (frame, owner) in &frames {
            assert_eq!(from_phy(flags, frame), Verdict::Slave(*owner), "{flags:?}");
        }
    }
}

#[test]
fn phy_unicast_ignores_the_destination_mac() {
    // Master promiscuous: a foreign-MAC frame still goes by its IP.
    let frame = ipv4_frame(
        [0x02, 0x12, 0x34, 0x56, 0x78, 0x9a],
        FOREIGN_MAC,
        EXTERNAL_V4,
        SLAVE1_V4,
    );
    assert_eq!(from_phy(PortFlags::Bridge, &frame), Verdict::Slave(1));
}

#[test]
fn phy_unicast_with_unowned_key_goes_to_the_host() {
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, UNOWNED_V4);
    assert_eq!(
        from_phy(PortFlags::Bridge, &frame),
        Verdict::Host(DropReason::NoOwner)
    );
}

#[test]
fn phy_unicast_without_key_goes_to_the_host() {
    let frame = lldp(MASTER_MAC, FOREIGN_MAC);
    assert_eq!(
        from_phy(PortFlags::Bridge, &frame),
        Verdict::Host(DropReason::NoKey)
    );
    let malformed = truncated(ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 1);
    assert_eq!(
        from_phy(PortFlags::Bridge, &malformed),
        Verdict::Host(DropReason::NoKey)
    );
}

#[test]
fn phy_tagged_unicast_goes_by_its_inner_destination() {
    // On RX the core has already removed the tag: the inner header counts.
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4);
    assert_eq!(
        from_phy(PortFlags::Bridge, &vlan_tagged(&frame, 9)),
        Verdict::Slave(1)
    );
    assert_eq!(
        from_phy(PortFlags::Bridge, &service_tagged(&frame, 9)),
        Verdict::Slave(1)
    );
}

// ---- phy RX, multicast ----

#[test]
fn phy_external_multicast_goes_to_the_host_and_every_slave() {
    let frames = [
        arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE1_V4),
        ipv4_frame(
            MDNS_GROUP_MAC,
            FOREIGN_MAC,
            EXTERNAL_V4,
            "224.0.0.251".parse().unwrap(),
        ),
        dad_ns_frame(FOREIGN_MAC, SLAVE0_V6),
    ];
    for flags in ALL_FLAGS {
        for frame in &frames {
            assert_eq!(from_phy(flags, frame), phy_flood(false), "{flags:?}");
        }
    }
}

#[test]
fn phy_reflected_slave_broadcast_goes_to_the_host_only() {
    // A slave's broadcast ARP request coming back: its local copies were made at TX.
    let frame = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, EXTERNAL_V4);
    for flags in ALL_FLAGS {
        assert_eq!(from_phy(flags, &frame), phy_flood(true), "{flags:?}");
    }
}

#[test]
fn phy_reflected_slave_dad_goes_to_the_host_only() {
    // The source key of a `::`-sourced NS is its target.
    assert_eq!(
        from_phy(PortFlags::Bridge, &dad_ns_frame(MASTER_MAC, SLAVE1_V6)),
        phy_flood(true)
    );
}

#[test]
fn phy_reflected_slave_ip_multicast_goes_to_the_host_only() {
    let frame = ipv6_frame(ALL_NODES_MAC, MASTER_MAC, SLAVE1_V6, ALL_NODES_V6);
    assert_eq!(from_phy(PortFlags::Vepa, &frame), phy_flood(true));
}

#[test]
fn phy_multicast_from_master_mac_with_unowned_source_is_external() {
    let frames = [
        arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, UNOWNED_V4, SLAVE0_V4),
        ipv6_frame(ALL_NODES_MAC, MASTER_MAC, UNOWNED_V6, ALL_NODES_V6),
        dad_ns_frame(MASTER_MAC, UNOWNED_V6),
    ];
    for frame in &frames {
        assert_eq!(from_phy(PortFlags::Bridge, frame), phy_flood(false));
    }
}

#[test]
fn phy_multicast_from_master_mac_without_key_is_external() {
    assert_eq!(
        from_phy(PortFlags::Bridge, &lldp(BROADCAST_MAC, MASTER_MAC)),
        phy_flood(false)
    );
}

#[test]
fn phy_multicast_with_slave_source_ip_from_another_mac_is_external() {
    let frame = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, SLAVE0_V4, EXTERNAL_V4);
    assert_eq!(from_phy(PortFlags::Bridge, &frame), phy_flood(false));
}

#[test]
fn phy_pause_frame_goes_to_the_host_only_tagged_or_not() {
    let pause = eth(PAUSE_MAC, FOREIGN_MAC, ETHERTYPE_PAUSE, &[0x00, 0x01, 0xff, 0xff]);
    for frame in [pause.clone(), vlan_tagged(&pause, 7)] {
        for flags in ALL_FLAGS {
            assert_eq!(from_phy(flags, &frame), phy_flood(true), "{flags:?}");
        }
    }
}

// ---- slave states: a down slave's addresses are unknown, it takes no multicast ----

#[test]
fn down_slave_owns_nothing_and_takes_no_multicast() {
    let d = dispatch(PortFlags::Bridge);
    assert_eq!(d.states.set(0, false), Some(true));
    let to_slave0 = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    let verdict = |frame: &[u8]| d.from_phy(classify(frame, frame.len()).as_ref());
    assert_eq!(verdict(&to_slave0), Verdict::Host(DropReason::NoOwner));
    let from_slave1 = local_ipv4(SLAVE1_V4, SLAVE0_V4);
    assert_eq!(
        d.from_slave(1, classify(&from_slave1, from_slave1.len()).as_ref()),
        Verdict::Host(DropReason::NoOwner)
    );
    assert!(!d.takes_multicast(0, &BROADCAST_MAC));
    assert!(d.takes_multicast(1, &BROADCAST_MAC));
    // Its source address no longer marks a multicast as a slave's own reflection.
    let reflected = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, EXTERNAL_V4);
    assert_eq!(verdict(&reflected), phy_flood(false));
    // Up again: delivered again.
    assert_eq!(d.states.set(0, true), Some(false));
    assert_eq!(verdict(&to_slave0), Verdict::Slave(0));
    assert_eq!(d.states.set(SLAVE_COUNT as SlaveId, true), None);
}

// ---- multicast filters ----

#[test]
fn filter_always_takes_broadcast() {
    assert!(McFilter::default().takes(&BROADCAST_MAC));
    let d = dispatch(PortFlags::Bridge);
    for slave in 0..SLAVE_COUNT as SlaveId {
        assert!(d.takes_multicast(slave, &BROADCAST_MAC), "slave {slave}");
    }
}

#[test]
fn filter_takes_exactly_its_groups() {
    let filter = McFilter {
        groups: vec![MDNS_GROUP_MAC],
        allmulti: false,
    };
    assert!(filter.takes(&MDNS_GROUP_MAC));
    assert!(!filter.takes(&LLMNR_GROUP_MAC));
    assert!(!filter.takes(&ALL_NODES_MAC));
    assert!(!McFilter::default().takes(&MDNS_GROUP_MAC));
}

#[test]
fn allmulti_filter_takes_every_group() {
    let filter = McFilter {
        groups: vec![],
        allmulti: true,
    };
    for group in [
        MDNS_GROUP_MAC,
        LLMNR_GROUP_MAC,
        ALL_NODES_MAC,
        PAUSE_MAC,
        BROADCAST_MAC,
    ] {
        assert!(filter.takes(&group), "{group:02x?}");
    }
}

#[test]
fn takes_multicast_reads_the_slaves_own_filter() {
    let d = dispatch(PortFlags::Bridge);
    assert!(d.takes_multicast(0, &MDNS_GROUP_MAC));
    assert!(!d.takes_multicast(0, &LLMNR_GROUP_MAC));
    assert!(d.takes_multicast(1, &LLMNR_GROUP_MAC));
    assert!(!d.takes_multicast(2, &MDNS_GROUP_MAC));
}

#[test]
fn a_guests_rarp_becomes_an_announcement_and_everything_else_dispatches_as_a_slaves() {
    let d = dispatch(PortFlags::Bridge);
    let guest = |frame: &[u8]| d.from_guest(1, classify(frame, frame.len()).as_ref());
    // What the vhost library makes of QEMU's announcement: a broadcast RARP request.
    let rarp = eth(
        BROADCAST_MAC,
        MASTER_MAC,
        0x8035,
        &arp_payload(
            1,
            3,
            (MASTER_MAC, Ipv4Addr::UNSPECIFIED),
            (MASTER_MAC, Ipv4Addr::UNSPECIFIED),
        ),
    );
    assert_eq!(guest(&rarp), Verdict::Announce(1));
    assert_eq!(
        guest(&vlan_tagged(&rarp, 5)),
        slave_flood(1),
        "a tagged RARP is no announcement"
    );
    let to_slave2 = ipv4_frame(MASTER_MAC, MASTER_MAC, SLAVE1_V4, SLAVE2_V4);
    assert_eq!(guest(&to_slave2), Verdict::Slave(2));
    assert_eq!(guest(&[0; 10]), Verdict::Drop(DropReason::Malformed));
    assert_eq!(
        from_slave(PortFlags::Bridge, 1, &rarp),
        slave_flood(1),
        "a ring slave's RARP is flooded"
    );
}

#[test]
fn a_groups_takers_are_its_members_and_the_allmulti_slaves_in_order() {
    let d = dispatch(PortFlags::Bridge);
    assert_eq!(d.multicast.takers(&BROADCAST_MAC), &[0, 1, 2]);
    assert_eq!(d.multicast.takers(&MDNS_GROUP_MAC), &[0, 1]);
    assert_eq!(d.multicast.takers(&LLMNR_GROUP_MAC), &[1]);
    let joined = |groups: Vec<[u8; 6]>, allmulti| McFilter { groups, allmulti };
    let m = Multicast::new(vec![
        joined(vec![LLMNR_GROUP_MAC], false),
        joined(vec![], true),
        joined(vec![MDNS_GROUP_MAC, LLMNR_GROUP_MAC], false),
        joined(vec![MDNS_GROUP_MAC], true),
    ]);
    assert_eq!(m.takers(&LLMNR_GROUP_MAC), &[0, 1, 2, 3]);
    assert_eq!(m.takers(&MDNS_GROUP_MAC), &[1, 2, 3]);
    assert_eq!(m.takers(&ALL_NODES_MAC), &[1, 3]);
    assert_eq!(Multicast::new(Vec::new()).takers(&BROADCAST_MAC), &[] as &[u16]);
}
