//! Real QEMU guests (TCG, a Debian kernel) on two vhost slaves in L2 mode, sharing the phy's
//! MAC as ipvlan slaves do. The phy is a `net_tap` whose kernel side sits in a network
//! namespace this test creates (the LAN, 10.0.0.1). The guests ping each other through the
//! switch, and the LAN; then one guest is killed and booted again while the other pings the
//! LAN all along: traffic resumes, the other guest loses not one reply, no mbuf leaks.

mod common;

use std::time::Duration;

use common::netns::Netns;
use common::qemu::{GuestPlan, Qemu};

const MASTER_MAC: &str = "02:00:00:00:00:01";
const BOOT: Duration = Duration::from_secs(90);

/// Two vhost slaves behind a TAP phy whose kernel side is the LAN (10.0.0.1 in a namespace):
/// a (10.0.0.2) and b (10.0.0.3), their sockets in the test's scratch directory.
struct TwoSlaves {
    dir: std::path::PathBuf,
    sock_a: std::path::PathBuf,
    sock_b: std::path::PathBuf,
    /// The TAP's name (`<tag><pid>`), and its LAN namespace (`<tag>lan<pid>`), not yet made.
    wire_if: String,
    lan_name: String,
    toml: String,
}

const LAN_MAC: &str = "02:00:00:00:00:99";
const LAN_IP: &str = "10.0.0.1/24";

/// The LAN namespace, with the switch's TAP `wire_if` moved in as 10.0.0.1.
fn lan_with(name: String, wire_if: &str) -> Netns {
    let lan = Netns::new(name);
    lan.adopt(wire_if, LAN_MAC, &[LAN_IP]);
    lan
}

/// `client`: the switch connects to sockets QEMU listens on.
fn two_slaves(test: &str, tag: &str, client: bool) -> TwoSlaves {
    let id = std::process::id() % 100_000;
    let dir = common::scratch_dir(test);
    let (sock_a, sock_b) = (dir.join("a.sock"), dir.join("b.sock"));
    let wire_if = format!("{tag}{id}");
    let slave = |name: &str, socket: &std::path::Path, ip: &str| {
        format!(
            "[[slave]]\nname = \"{name}\"\nvhost = {{ socket = \"{}\", client = {client} }}\naddresses = [\"{ip}/24\"]\n",
            socket.display()
        )
    };
    let toml = format!(
        "[phy]\ndevice = \"net_tap_phy,iface={wire_if}\"\nmac = \"{MASTER_MAC}\"\n{}{}",
        slave("a", &sock_a, "10.0.0.2"),
        slave("b", &sock_b, "10.0.0.3")
    );
    TwoSlaves {
        lan_name: format!("{tag}lan{id}"),
        dir,
        sock_a,
        sock_b,
        wire_if,
        toml,
    }
}

#[test]
fn two_guests_ping_each_other_and_the_lan_and_one_comes_back_after_a_crash() {
    let t = two_slaves("qemu_guests", "ivq", false);
    let (_eal, sw) = common::start("qemu_guests", &t.toml);
    let _lan = lan_with(t.lan_name.clone(), &t.wire_if);

    // b pings the LAN for the whole test (100 pings, 20 s): busybox ping fails on any loss.
    let mut b = Qemu::boot(
        &GuestPlan {
            socket: &t.sock_b,
            listen: false,
            mac: MASTER_MAC,
            ip: "10.0.0.3/24",
            peer: None,
            cmd: Some("ping -c 100 -i 0.2 -w 60 10.0.0.1"),
            linger_s: 0,
            ipv6: false,
        },
        t.dir.join("b.log"),
    );
    // a pings b (through the switch, slave to slave) and the LAN (through the phy); twice,
    // the first one killed after its result, as a crash.
    let plan_a = GuestPlan {
        socket: &t.sock_a,
        listen: false,
        mac: MASTER_MAC,
        ip: "10.0.0.2/24",
        peer: Some("10.0.0.3"),
        cmd: Some("ping -c 3 -i 0.2 -w 10 10.0.0.1"),
        linger_s: 60,
        ipv6: false,
    };
    let mut a = Qemu::boot(&plan_a, t.dir.join("a1.log"));
    a.expect_ok("guest a", BOOT);
    a.kill();
    let mut a = Qemu::boot(&plan_a, t.dir.join("a2.log"));
    a.expect_ok("guest a, booted again", BOOT);
    b.expect_ok("guest b, pinging all along", BOOT);
    assert!(
        b.console()
            .contains("100 packets transmitted, 100 packets received"),
        "{}",
        b.console()
    );
    a.kill();
    b.kill();

    let stats = common::finish(sw);
    assert!(
        stats["b"].rx_packets >= 100 && stats["b"].tx_packets >= 100,
        "{stats:?}"
    );
    assert!(stats["a"].rx_packets >= 12, "{stats:?}");
    // The LAN answered both guests: 3 + 3 + 100 echo replies at least.
    assert!(stats["phy"].rx_packets >= 106, "{stats:?}");
}

/// A guest command that pings the LAN and `peer` for ever, printing `LAN-OK` / `PEER-OK` per
/// answer (the quotes keep the command line the guest prints from matching).
fn pinger(peer: &str) -> String {
    format!(
        "while :; do ping -c 1 -W 1 10.0.0.1 >/dev/null && echo LAN-\"\"OK; \
         ping -c 1 -W 1 {peer} >/dev/null && echo PEER-\"\"OK; sleep 0.2; done"
    )
}

/// A guest on `socket` (`listen`: QEMU is the server) with address `ip`, running `cmd` (a
/// `pinger`: it never ends).
fn pinging<'a>(socket: &'a std::path::Path, listen: bool, ip: &'a str, cmd: &'a str) -> GuestPlan<'a> {
    GuestPlan {
        socket,
        listen,
        mac: MASTER_MAC,
        ip,
        peer: None,
        cmd: Some(cmd),
        linger_s: 0,
        ipv6: false,
    }
}

/// QEMU listens on the sockets, the switch binary connects (client mode), and is restarted
/// while the guests run: they reconnect, and reach each other and the LAN again.
#[test]
fn client_mode_guests_reconnect_when_the_switch_restarts() {
    let t = two_slaves("qemu_restart", "ivr", true);
    let config = t.dir.join("switch.toml");
    std::fs::write(&config, t.toml).unwrap();
    let lan = Netns::new(t.lan_name.clone());
    let (cmd_a, cmd_b) = (pinger("10.0.0.3"), pinger("10.0.0.2"));
    let plan = |socket, ip, cmd| pinging(socket, true, ip, cmd);
    // QEMU waits for the switch to connect before it boots the guest.
    let mut a = Qemu::boot(&plan(&t.sock_a, "10.0.0.2/24", &cmd_a), t.dir.join("a.log"));
    let mut b = Qemu::boot(&plan(&t.sock_b, "10.0.0.3/24", &cmd_b), t.dir.join("b.log"));

    let mut answers = (0, 0, 0, 0);
    for run in ["first", "restarted"] {
        let switch = common::SwitchProcess::spawn(common::switch_binary(&config, "qemu_restart"));
        // Only once the switch has configured its TAP may the test move it.
        switch.wait_ready();
        lan.adopt(&t.wire_if, LAN_MAC, &[LAN_IP]);
        // Three more answers of each kind, to each guest, from this switch.
        answers = (answers.0 + 3, answers.1 + 3, answers.2 + 3, answers.3 + 3);
        a.wait_for("LAN-OK", answers.0, BOOT);
        a.wait_for("PEER-OK", answers.1, BOOT);
        b.wait_for("LAN-OK", answers.2, BOOT);
        b.wait_for("PEER-OK", answers.3, BOOT);
        let count = |guest: &Qemu, text: &str| guest.console().matches(text).count();
        answers = (
            count(&a, "LAN-OK"),
            count(&a, "PEER-OK"),
            count(&b, "LAN-OK"),
            count(&b, "PEER-OK"),
        );
        eprintln!("{run} switch: answers {answers:?}");
        switch.stop("TERM");
    }
    a.kill();
    b.kill();
}

/// Guest a is live-migrated to a second QEMU attached to the same slave's socket while guest b
/// pings it: the destination's device takes over the slave (after the source's detached), the
/// guest keeps answering, and QEMU's announcement after the migration reaches the switch as a
/// RARP (counted, not forwarded; the switch announces a's address on the phy instead).
#[test]
fn a_guest_live_migrates_to_another_qemu_on_its_slave_and_keeps_answering() {
    let t = two_slaves("qemu_migrate", "ivg", false);
    let (_eal, sw) = common::start("qemu_migrate", &t.toml);
    let _lan = lan_with(t.lan_name.clone(), &t.wire_if);
    let (cmd_a, cmd_b) = (pinger("10.0.0.3"), pinger("10.0.0.2"));
    let plan = |socket, ip, cmd| pinging(socket, false, ip, cmd);
    let plan_a = plan(&t.sock_a, "10.0.0.2/24", &cmd_a);
    let mut a = Qemu::boot(&plan_a, t.dir.join("a.log"));
    let mut b = Qemu::boot(&plan(&t.sock_b, "10.0.0.3/24", &cmd_b), t.dir.join("b.log"));
    a.wait_for("PEER-OK", 3, BOOT);
    b.wait_for("PEER-OK", 3, BOOT);

    let migration = t.dir.join("migration.sock");
    let mut moved = Qemu::incoming(&plan_a, t.dir.join("a-moved.log"), &migration);
    a.migrate(&migration);
    a.kill();
    let answered = b.console().matches("PEER-OK").count();
    // The moved guest's console is the destination's: all it shows happened after the move.
    moved.wait_for("LAN-OK", 3, BOOT);
    moved.wait_for("PEER-OK", 3, BOOT);
    b.wait_for("PEER-OK", answered + 3, BOOT);
    moved.kill();
    b.kill();

    let stats = common::finish(sw);
    assert!(
        stats["a"].drops["rarp"] >= 1,
        "no announcement after the migration: {stats:?}"
    );
}
