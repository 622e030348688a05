//! Mode l3s's configuration: a slave's ingress and egress filters and `[conntrack]`, each
//! rule's error with its line and key, and the file written back reading the same.

mod common;

use std::net::IpAddr;

use common::assert_error;
use conf::{Config, ConntrackConf, FilterConf, RuleConf};
use switch_core::filter::{Action, IPPROTO_TCP, IPPROTO_UDP};

/// Lines 1-7: mode l3s, a ring phy, one slave "a" (its table ends the text).
const HEAD: &str = "mode = \"l3s\"\n[phy]\nring = \"p\"\naddresses = [\"10.0.0.1/24\"]\n[[slave]]\nname = \"a\"\nring = \"a\"\n";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn rules_defaults_and_the_connection_table_are_read_and_written_back() {
    let text = format!(
        "{HEAD}[slave.ingress]\ndefault = \"deny\"\nestablished = true\nrules = [\n  \
         {{ action = \"allow\", proto = \"tcp\", to_port = 22, from = \"192.0.2.0/24\" }},\n  \
         {{ action = \"allow\", proto = \"udp\", to_port = \"5000-5999\" }},\n]\n\
         [slave.egress]\nrules = [{{ action = \"deny\", to = \"2001:db8:9::/48\" }}]\n\
         [conntrack]\nentries = 1024\nother_timeout = 5\n"
    );
    let config = Config::parse(&text, "s.toml").unwrap();
    let rule = |action| RuleConf {
        action,
        from: None,
        to: None,
        proto: None,
        from_port: None,
        to_port: None,
    };
    let ingress = FilterConf {
        rules: vec![
            RuleConf {
                from: Some((ip("192.0.2.0"), 24)),
                proto: Some(IPPROTO_TCP),
                to_port: Some((22, 22)),
                ..rule(Action::Allow)
            },
            RuleConf {
                proto: Some(IPPROTO_UDP),
                to_port: Some((5000, 5999)),
                ..rule(Action::Allow)
            },
        ],
        default: Action::Deny,
        established: true,
    };
    let egress = FilterConf {
        rules: vec![RuleConf {
            to: Some((ip("2001:db8:9::"), 48)),
            ..rule(Action::Deny)
        }],
        default: Action::Allow,
        established: false,
    };
    let slave = &config.slaves[0];
    assert_eq!(
        (slave.ingress.as_ref(), slave.egress.as_ref()),
        (Some(&ingress), Some(&egress))
    );
    assert_eq!(
        config.conntrack,
        ConntrackConf {
            entries: 1024,
            tcp_timeout: 600,
            other_timeout: 5
        }
    );
    let again = Config::parse(&config.to_toml(), "again").unwrap();
    assert_eq!(again.slaves[0].ingress, Some(ingress));
    assert_eq!(again.slaves[0].egress, Some(egress));
    assert_eq!(again.conntrack, config.conntrack);
}

#[test]
fn each_mistake_is_named_with_its_line_and_key() {
    let ingress = |rules: &str| format!("{HEAD}[slave.ingress]\nrules = [{rules}]\n");
    assert_error(
        &ingress("{ proto = \"tcp\" }"),
        9,
        "slave[0].ingress.rules[0].action",
        "required",
    );
    assert_error(
        &ingress("{ action = \"drop\" }"),
        9,
        "slave[0].ingress.rules[0].action",
        "neither",
    );
    assert_error(
        &ingress("{ action = \"allow\", to_port = 80 }"),
        9,
        "slave[0].ingress.rules[0].to_port",
        "ports need proto",
    );
    assert_error(
        &ingress("{ action = \"allow\", proto = \"gre\" }"),
        9,
        "slave[0].ingress.rules[0].proto",
        "no protocol",
    );
    assert_error(
        &ingress("{ action = \"allow\", proto = \"udp\", from_port = \"9-3\" }"),
        9,
        "slave[0].ingress.rules[0].from_port",
        "empty",
    );
    assert_error(
        &ingress("{ action = \"allow\", proto = \"udp\", to_port = 70000 }"),
        9,
        "slave[0].ingress.rules[0].to_port",
        "not a port",
    );
    assert_error(
        &ingress("{ action = \"allow\", from = \"10.0.0.1/24\" }"),
        9,
        "slave[0].ingress.rules[0].from",
        "host bits",
    );
    assert_error(
        &ingress("{ action = \"allow\", from = \"10.0.0.0/24\", to = \"::/0\" }"),
        9,
        "slave[0].ingress.rules[0].to",
        "family",
    );
    let egress = format!("{HEAD}[slave.egress]\nestablished = true\n");
    assert_error(&egress, 9, "slave[0].egress.established", "ingress");
    let default = format!("{HEAD}[slave.egress]\ndefault = \"reject\"\n");
    assert_error(&default, 9, "slave[0].egress.default", "neither");
    let l3 = format!(
        "{}[slave.ingress]\ndefault = \"deny\"\n",
        HEAD.replace("l3s", "l3")
    );
    assert_error(&l3, 8, "slave[0].ingress", "mode = \"l3s\"");
    let conntrack = format!("{HEAD}[conntrack]\ntcp_timeout = 0\n");
    assert_error(&conntrack, 9, "conntrack.tcp_timeout", "not in");
    let outside_l3s = format!("{}[conntrack]\nentries = 1024\n", HEAD.replace("l3s", "l3"));
    assert_error(&outside_l3s, 8, "conntrack", "mode = \"l3s\"");
}
