//! A vhost-user slave against a real virtio-user peer: `dpdk-testpmd` with `net_virtio_user`
//! (its own process and file prefix) looping frames back. The slave is down until the guest
//! attaches (its address goes to the host port), carries frames both ways byte for byte while
//! attached, goes down when the guest is killed, comes back with a new guest, and nothing
//! leaks. In server mode (the switch listens) and client mode (testpmd listens).

mod common;

use std::time::{Duration, Instant};

use common::testpmd::Guest;
use common::*;
use switch::Switch;

fn config(socket: &str, client: bool) -> String {
    format!(
        "[phy]\nring = \"phy\"\nmac = \"02:00:00:00:00:01\"\n[host]\nring = \"host\"\n\
         [[slave]]\nname = \"g\"\nvhost = {{ socket = \"{socket}\", client = {client} }}\n\
         addresses = [\"10.0.0.21/24\"]\n[[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.11/24\"]\n"
    )
}

fn wait_until_up(sw: &Switch, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sw.is_up("g") != Some(up) {
        assert!(
            Instant::now() < deadline,
            "slave g never went {}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sw.guest_attached("g"), Some(up));
}

/// Frames from outside to the guest come back from it and leave on the phy, unchanged (dst
/// MAC = the master's, so not slave-to-slave): every one, in order.
fn loops_through_the_guest(sw: &Switch, count: usize) {
    let frames: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            udp4(
                MASTER,
                OUTSIDE,
                [10, 0, 0, 1],
                [10, 0, 0, 21],
                &(i as u32).to_be_bytes(),
            )
        })
        .collect();
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for chunk in frames.chunks(16) {
        inject(sw, "phy", chunk);
        back.extend(take(sw, "phy"));
    }
    while back.len() < count {
        assert!(
            Instant::now() < deadline,
            "{} of {count} frames came back",
            back.len()
        );
        std::thread::sleep(Duration::from_millis(5));
        back.extend(take(sw, "phy"));
    }
    assert_eq!(back, frames);
}

fn guest_comes_and_goes(test: &str, client: bool) {
    let socket = scratch_dir(test).join("g.sock");
    let socket = socket.to_str().unwrap();
    let _ = std::fs::remove_file(socket);
    // In client mode testpmd must listen first (it forwards once the switch connected); in
    // server mode the switch creates the socket.
    let mut guest = client.then(|| Guest::spawn(socket, true, test));
    let (_eal, sw) = start(test, &config(socket, client));
    if let Some(guest) = &guest {
        guest.wait_forwarding();
    }
    let to_g = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 21], b"nobody attached");
    if guest.is_none() {
        // Down: its address is an unknown destination.
        assert_eq!(sw.is_up("g"), Some(false));
        inject(&sw, "phy", std::slice::from_ref(&to_g));
        assert_eq!(take(&sw, "host"), vec![to_g.clone()]);
        guest = Some(Guest::start(socket, false, test));
    }
    wait_until_up(&sw, true);
    loops_through_the_guest(&sw, 200);

    // The guest dies: down, its traffic goes to the host, the ring slave is unaffected.
    guest.take().unwrap().stop();
    wait_until_up(&sw, false);
    inject(&sw, "phy", std::slice::from_ref(&to_g));
    assert_eq!(take(&sw, "host"), vec![to_g.clone()]);
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    inject(&sw, "phy", std::slice::from_ref(&to_a));
    assert_eq!(take(&sw, "a"), vec![to_a]);

    // A new guest: up again (in client mode the switch reconnects by itself, once the new
    // guest listens where the killed one left its socket file).
    if client {
        std::fs::remove_file(socket).unwrap();
    }
    let _guest = Guest::start(socket, client, test);
    wait_until_up(&sw, true);
    loops_through_the_guest(&sw, 100);
    let stats = finish(sw);
    assert_eq!((stats["g"].rx_packets, stats["g"].tx_packets), (300, 300));
    assert_eq!(stats["phy"].tx_packets, 300);
    if !client {
        assert!(
            !std::path::Path::new(socket).exists(),
            "the switch removes the socket it created"
        );
    }
}

#[test]
fn a_guest_attaches_to_a_server_socket_forwards_and_comes_back() {
    guest_comes_and_goes("vhost_server", false);
}

#[test]
fn the_switch_connects_to_a_guests_socket_and_reconnects() {
    guest_comes_and_goes("vhost_client", true);
}
