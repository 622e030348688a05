//! Each validation rule, with the exact line and key its error names.

mod common;

use common::{assert_error, error_of};
use conf::{Backing, Config, Mode, PortFlags, VhostConf, DEFAULT_CONFIG, DEFAULT_TX_RETRIES};

const MINIMAL: &str = "lcores = [1]\n[phy]\nring = \"p\"\n";

/// MINIMAL (3 lines) followed by `rest`.
fn with(rest: &str) -> String {
    format!("{MINIMAL}{rest}")
}

#[test]
fn default_config_parses() {
    let config = Config::parse(DEFAULT_CONFIG, "<default>").unwrap();
    assert_eq!((config.mode, config.flags), (Mode::L2, PortFlags::Bridge));
    assert_eq!(config.lcores, None, "every worker of -l 0,1: lcore 1");
    assert_eq!(config.idle_sleep_max_us, 250);
    assert_eq!(
        config.eal_args,
        [
            "-l",
            "0,1",
            "--no-pci",
            "--in-memory",
            "--file-prefix",
            "ipvsw-default"
        ]
    );
    assert_eq!(config.phy.backing, Backing::Device("net_tap0,iface=ipvl0".into()));
    assert_eq!(config.phy.mac, Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(config.phy.at, "<default>:11: phy.device");
    assert!(config.host.is_none());
    let names: Vec<_> = config.slaves.iter().map(|slave| slave.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let b = &config.slaves[1];
    let Backing::Vhost(vhost) = &b.port.backing else {
        panic!("b is a vhost slave: {:?}", b.port.backing);
    };
    assert_eq!(vhost.socket, std::path::Path::new("/run/ipvlan-switch/b.sock"));
    assert!(!vhost.client);
    assert_eq!(
        b.addresses,
        [
            ("10.0.0.12".parse().unwrap(), 24),
            ("2001:db8::12".parse().unwrap(), 64)
        ]
    );
    assert_eq!(b.multicast, [[0x33, 0x33, 0, 0, 0, 1]]);
    assert!(!b.allmulti);
}

#[test]
fn minimal_config_gets_defaults() {
    let config = Config::parse(MINIMAL, "s.toml").unwrap();
    assert_eq!((config.mode, config.flags), (Mode::L2, PortFlags::Bridge));
    assert_eq!(
        config.eal_args,
        ["-l", "0,1", "--no-pci", "--in-memory", "--file-prefix", "ipvsw"]
    );
    assert_eq!(
        (config.phy.queues, config.phy.mac, config.phy.mtu),
        (1, None, None)
    );
    assert!(config.slaves.is_empty());
}

/// The configuration's Debug text, less where its backings were written (`at`), which differs
/// between a file and its reprint.
fn debug_without_places(mut config: Config) -> String {
    config.phy.at.clear();
    config.host.iter_mut().for_each(|host| host.at.clear());
    config.slaves.iter_mut().for_each(|slave| slave.port.at.clear());
    format!("{config:?}")
}

#[test]
fn to_toml_reparses_to_the_same_config() {
    let text = concat!(
        "mode = \"l3s\"\nflags = \"vepa\"\nlcores = [2, 3]\n",
        "[eal]\nargs = [\"-l\", \"0-3\", \"--vdev\", \"net_tap0,iface=\\\"x\\\"\"]\n",
        "[phy]\ndevice = \"0000:01:00.0\"\nmac = \"02:AA:00:00:00:01\"\nqueues = 4\nmtu = 9000\n",
        "[host]\nring = \"host\"\nmtu = 1500\n",
        "[[slave]]\nname = \"a\"\ndevice = \"net_ring0\"\naddresses = [\"10.0.0.11\", \"2001:db8::11/64\"]\n",
        "multicast = [\"01:00:5e:01:01:01\"]\nallmulti = true\nmtu = 1400\n",
    );
    for original in [
        Config::parse(text, "s.toml").unwrap(),
        Config::parse(DEFAULT_CONFIG, "<default>").unwrap(),
    ] {
        let printed = original.to_toml();
        let reparsed = Config::parse(&printed, "printed").unwrap();
        assert_eq!(reparsed.to_toml(), printed);
        assert_eq!(
            debug_without_places(reparsed),
            debug_without_places(original),
            "{printed}"
        );
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let error = error_of("lcores = [1]\n[phy\n");
    assert_eq!((error.line, error.key.as_deref()), (Some(2), None), "{error}");
}

#[test]
fn unknown_keys_are_located() {
    assert_error("colour = 1\n", 1, "colour", "unknown field `colour`");
    assert_error(&with("bogus = 2\n"), 4, "phy.bogus", "unknown field `bogus`");
    assert_error(
        &with("[eal]\nargs = []\nextra = 1\n"),
        6,
        "eal.extra",
        "unknown field",
    );
    assert_error(
        &with("[[slave]]\nname = \"a\"\n[[slave]]\nname = \"b\"\nmac = \"x\"\n"),
        8,
        "slave[1].mac",
        "unknown",
    );
    assert_error(
        &with("host = { ring = \"h\", bad = 1 }\n"),
        4,
        "phy.host",
        "unknown field `host`",
    );
    assert_error(
        "lcores = [1]\nhost = { ring = \"h\", bad = 1 }\n[phy]\nring = \"p\"\n",
        2,
        "host.bad",
        "unknown",
    );
}

#[test]
fn wrong_types_are_located() {
    assert_error(&with("queues = \"4\"\n"), 4, "phy.queues", "invalid type");
    assert_error(&with("mtu = 70000\n"), 4, "phy.mtu", "u16");
    assert_error(
        "lcores = [1, \"2\"]\n[phy]\nring = \"p\"\n",
        1,
        "lcores[1]",
        "invalid type",
    );
}

#[test]
fn bad_mode_and_flags() {
    assert_error(
        "lcores = [1]\nmode = \"l4\"\n[phy]\nring = \"p\"\n",
        2,
        "mode",
        "unknown variant `l4`",
    );
    assert_error(
        "flags = \"open\"\nlcores = [1]\n[phy]\nring = \"p\"\n",
        1,
        "flags",
        "unknown variant `open`",
    );
}

#[test]
fn lcores_default_to_every_worker_and_are_non_empty_and_unique() {
    let config = Config::parse("[phy]\nring = \"p\"\n", "s.toml").unwrap();
    assert_eq!(config.lcores, None);
    // Written back without lcores, and read back the same.
    assert!(!config.to_toml().contains("lcores"), "{}", config.to_toml());
    assert_error("lcores = []\n[phy]\nring = \"p\"\n", 1, "lcores", "at least one");
    assert_error(
        "lcores = [\n 1,\n 2,\n 1,\n]\n[phy]\nring = \"p\"\n",
        4,
        "lcores[2]",
        "lcore 1 is listed twice",
    );
}

#[test]
fn phy_is_required() {
    let error = error_of("lcores = [1]\n[host]\nring = \"h\"\n");
    assert_eq!((error.line, error.key.as_deref()), (None, Some("phy")), "{error}");
}

#[test]
fn a_port_has_a_device_or_a_ring() {
    assert_error(
        "lcores = [1]\n\n[phy]\nmac = \"02:00:00:00:00:01\"\n",
        3,
        "phy",
        "needs a device or a ring",
    );
    assert_error(
        &with("device = \"net_tap0\"\n"),
        4,
        "phy.device",
        "give only one of device or ring",
    );
    assert_error(
        &with("[[slave]]\nname = \"a\"\n"),
        4,
        "slave[0]",
        "needs a device, a ring or a vhost socket",
    );
    assert_error(
        &with("[host]\ndevice = \"d\"\nring = \"h\"\n"),
        6,
        "host.ring",
        "give only one of device or ring",
    );
}

#[test]
fn bad_macs() {
    assert_error(
        &with("mac = \"02:00:00:00:00\"\n"),
        4,
        "phy.mac",
        "not a MAC address",
    );
    assert_error(
        &with("mac = \"01:00:5e:00:00:01\"\n"),
        4,
        "phy.mac",
        "is a multicast MAC, not unicast",
    );
    let slave = "[[slave]]\nname = \"a\"\nring = \"a\"\nmulticast = [\n \"01:00:5e:01:01:01\",\n \"02:00:00:00:00:01\",\n]\n";
    assert_error(
        &with(slave),
        9,
        "slave[0].multicast[1]",
        "is a unicast MAC, not multicast",
    );
    let slave = "[[slave]]\nname = \"a\"\nring = \"a\"\nmulticast = [\"zz\"]\n";
    assert_error(&with(slave), 7, "slave[0].multicast[0]", "not a MAC address");
}

#[test]
fn bad_addresses_and_prefixes() {
    let slave = |addresses: &str| {
        with(&format!(
            "[[slave]]\nname = \"a\"\nring = \"a\"\naddresses = {addresses}\n"
        ))
    };
    assert_error(
        &slave("[\"10.0.0.300/24\"]"),
        7,
        "slave[0].addresses[0]",
        "not an IPv4 or IPv6 address",
    );
    assert_error(
        &slave("[\"10.0.0.1/24\", \"10.0.0.2/33\"]"),
        7,
        "slave[0].addresses[1]",
        "not in 0..=32",
    );
    assert_error(
        &slave("[\"2001:db8::1/129\"]"),
        7,
        "slave[0].addresses[0]",
        "not in 0..=128",
    );
}

#[test]
fn an_address_belongs_to_one_slave() {
    let text = with(concat!(
        "[[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.11/24\"]\n",
        "[[slave]]\nname = \"b\"\nring = \"b\"\naddresses = [\"10.0.0.12/24\",\n \"10.0.0.11/32\"]\n",
    ));
    let error = error_of(&text);
    assert_eq!(
        error.to_string(),
        "s.toml:12: slave[1].addresses[1]: 10.0.0.11 of slave \"b\" (slave[1]) is already on slave \"a\" (slave[0])"
    );
}

#[test]
fn slave_names_are_unique_and_plain() {
    let text = with("[[slave]]\nname = \"a\"\nring = \"a\"\n[[slave]]\nname = \"a\"\nring = \"b\"\n");
    assert_error(
        &text,
        8,
        "slave[1].name",
        "slave name \"a\" is already used by slave[0]",
    );
    assert_error(
        &with("[[slave]]\nname = \"a b\"\nring = \"a\"\n"),
        5,
        "slave[0].name",
        "not a slave name",
    );
    assert_error(
        &with("[[slave]]\nring = \"a\"\n"),
        4,
        "slave[0].name",
        "is required",
    );
}

#[test]
fn ring_names_fit_dpdk_ring_names() {
    let long = "r".repeat(25);
    assert_error(
        &with(&format!("[[slave]]\nname = \"a\"\nring = \"{long}\"\n")),
        6,
        "slave[0].ring",
        "is not a ring name: use 1 to 24 of",
    );
    assert!(Config::parse(
        &with(&format!("[[slave]]\nname = \"a\"\nring = \"{}\"\n", &long[..24])),
        "s.toml"
    )
    .is_ok());
}

#[test]
fn two_ports_cannot_share_a_ring_or_a_device() {
    let text = with("[[slave]]\nname = \"a\"\nring = \"p\"\n");
    assert_error(&text, 6, "slave[0].ring", "ring \"p\" is already used by phy");
    let text = "lcores = [1]\n[phy]\ndevice = \"net_tap0,iface=a\"\n[host]\ndevice = \"net_tap0,iface=b\"\n";
    assert_error(
        text,
        5,
        "host.device",
        "device \"net_tap0\" is already used by phy",
    );
    // A ring and a device of the same name are different things.
    assert!(Config::parse(&with("[host]\ndevice = \"p\"\n"), "s.toml").is_ok());
}

#[test]
fn queues_and_mtu_ranges() {
    assert_error(&with("queues = 0\n"), 4, "phy.queues", "0 is not in 1..=65535");
    assert_error(&with("mtu = 67\n"), 4, "phy.mtu", "67 is not in 68..=9600");
    assert_error(
        &with("[[slave]]\nname = \"a\"\nring = \"a\"\nmtu = 9601\n"),
        7,
        "slave[0].mtu",
        "9601",
    );
}

#[test]
fn vhost_slaves_name_a_socket_and_only_slaves_have_one() {
    let config = Config::parse(
        &with("[[slave]]\nname = \"a\"\nvhost = { socket = \"/run/ipvlan-switch/a.sock\" }\n"),
        "s.toml",
    )
    .unwrap();
    let expected = Backing::Vhost(VhostConf {
        socket: "/run/ipvlan-switch/a.sock".into(),
        client: false,
        queues: 1,
        tx_retries: DEFAULT_TX_RETRIES,
        guest_mac: None,
    });
    assert_eq!(config.slaves[0].port.backing, expected);
    // Written back and read again: the same.
    let again = Config::parse(&config.to_toml(), "again").unwrap();
    assert_eq!(again.slaves[0].port.backing, expected);
    let vhost = |table: &str| with(&format!("[[slave]]\nname = \"a\"\nvhost = {table}\n"));
    assert_error(
        &vhost("{ client = true }"),
        6,
        "slave[0].vhost.socket",
        "is required",
    );
    assert_error(
        &vhost("{ socket = \"/s\", queues = 9 }"),
        6,
        "slave[0].vhost.queues",
        "9 is not in 1..=8",
    );
    assert_error(
        &vhost("{ socket = \"/s\", tx_retries = 33 }"),
        6,
        "slave[0].vhost.tx_retries",
        "0..=32",
    );
    assert_error(
        &vhost("{ socket = \"/s\", guest_mac = \"01:00:5e:00:00:01\" }"),
        6,
        "slave[0].vhost.guest_mac",
        "is a multicast MAC, not unicast",
    );
    let own = Config::parse(
        &vhost("{ socket = \"/s\", guest_mac = \"52:54:00:12:34:56\" }"),
        "s.toml",
    )
    .unwrap();
    let Backing::Vhost(own) = &own.slaves[0].port.backing else {
        panic!("not vhost");
    };
    assert_eq!(own.guest_mac, Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    assert_error(
        &vhost("{ socket = \"/s\", bad = 1 }"),
        6,
        "slave[0].vhost.bad",
        "unknown field `bad`",
    );
    assert_error(
        &with("[[slave]]\nname = \"a\"\nring = \"r\"\nvhost = { socket = \"/s\" }\n"),
        7,
        "slave[0].vhost",
        "give only one of device, ring or vhost",
    );
    assert_error(
        &with("[[slave]]\nname = \"a\"\nvhost = { socket = \"/s\" }\n[[slave]]\nname = \"b\"\nvhost = { socket = \"/s\" }\n"),
        9,
        "slave[1].vhost",
        "vhost socket \"/s\" is already used by slave[0]",
    );
    assert_error(
        "lcores = [1]\n[phy]\nvhost = { socket = \"/s\" }\n",
        3,
        "phy.vhost",
        "only a slave can be a vhost port",
    );
}

#[test]
fn unreadable_file_is_named() {
    let error = Config::load("/nonexistent/switch.toml".as_ref()).unwrap_err();
    assert_eq!(
        (error.file.as_str(), error.line),
        ("/nonexistent/switch.toml", None)
    );
    assert!(
        error.to_string().starts_with("/nonexistent/switch.toml: "),
        "{error}"
    );
}

#[test]
fn pool_size_is_optional_and_bounded() {
    assert_eq!(Config::parse(MINIMAL, "s.toml").unwrap().pool_mbufs, None);
    let config = Config::parse(&format!("{MINIMAL}[pool]\nmbufs = 48\n"), "s.toml").unwrap();
    assert_eq!(config.pool_mbufs, Some(48));
    assert_eq!(
        Config::parse(&config.to_toml(), "again").unwrap().pool_mbufs,
        Some(48)
    );
    assert_error(
        &format!("{MINIMAL}[pool]\nmbufs = 8\n"),
        5,
        "pool.mbufs",
        "8 is not in 16..=16777216",
    );
}

#[test]
fn idle_sleep_is_off_unless_set_and_bounded() {
    assert_eq!(Config::parse(MINIMAL, "s.toml").unwrap().idle_sleep_max_us, 0);
    let config = Config::parse(&format!("idle_sleep_max_us = 250\n{MINIMAL}"), "s.toml").unwrap();
    assert_eq!(config.idle_sleep_max_us, 250);
    assert_eq!(
        Config::parse(&config.to_toml(), "again")
            .unwrap()
            .idle_sleep_max_us,
        250
    );
    assert_error(
        &format!("idle_sleep_max_us = 20000\n{MINIMAL}"),
        1,
        "idle_sleep_max_us",
        "20000 is not in 0..=10000",
    );
}
