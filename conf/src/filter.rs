//! Mode l3s's filters: a slave's `[slave.ingress]` and `[slave.egress]` (ordered rules, a
//! default, and for ingress `established`), and `[conntrack]` (the connection table's size and
//! timeouts). Checked as the rest: file, line and key.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use switch_core::filter::{Action, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use switch_core::Mode;
use toml::Spanned;

use crate::error::{ConfError, Source};
use crate::l3::parse_network;
use crate::schema::unplaced;
use crate::values::{check_range, format_address};

/// One direction's filter of a slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterConf {
    pub rules: Vec<RuleConf>,
    /// What a frame no rule matches gets.
    pub default: Action,
    /// Ingress: replies to connections the slave opened pass before the rules.
    pub established: bool,
}

/// One rule; a part not given matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleConf {
    pub action: Action,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub proto: Option<u8>,
    pub from_port: Option<(u16, u16)>,
    pub to_port: Option<(u16, u16)>,
}

/// As `show filters` writes it: "allow tcp from 192.0.2.0/24 to any port 22".
impl std::fmt::Display for RuleConf {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let action = self.action.name();
        let proto = match self.proto {
            None => "ip".to_string(),
            Some(n) => match PROTOCOLS.iter().find(|(_, number)| *number == n) {
                Some((name, _)) => name.to_string(),
                None => format!("proto {n}"),
            },
        };
        let end = |net: Option<(IpAddr, u8)>, ports: Option<(u16, u16)>| {
            let net = net.map_or("any".to_string(), |n| format_address(&n));
            match ports {
                Some((low, high)) if low == high => format!("{net} port {low}"),
                Some((low, high)) => format!("{net} port {low}-{high}"),
                None => net,
            }
        };
        let (from, to) = (end(self.from, self.from_port), end(self.to, self.to_port));
        write!(f, "{action} {proto} from {from} to {to}")
    }
}

/// `[conntrack]`: the connection table of mode l3s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConntrackConf {
    /// Connections the table holds (a full set of four pushes its oldest out).
    pub entries: u32,
    /// Seconds a TCP connection stays open after its last packet from the slave.
    pub tcp_timeout: u32,
    /// Seconds any other (UDP, ICMP echo) stays open.
    pub other_timeout: u32,
}

impl Default for ConntrackConf {
    fn default() -> Self {
        ConntrackConf {
            entries: 65_536,
            tcp_timeout: 600,
            other_timeout: 30,
        }
    }
}

const ENTRIES_RANGE: RangeInclusive<u32> = 16..=(1 << 24);
const TIMEOUT_RANGE: RangeInclusive<u32> = 1..=(7 * 24 * 3600);

/// `[slave.ingress]` / `[slave.egress]` as written.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileFilter {
    #[serde(default)]
    pub rules: Vec<Spanned<FileRule>>,
    pub default: Option<Spanned<String>>,
    pub established: Option<Spanned<bool>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRule {
    pub action: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub proto: Option<Spanned<NumberOrName>>,
    pub from_port: Option<Spanned<NumberOrName>>,
    pub to_port: Option<Spanned<NumberOrName>>,
}

/// A port (`80`, `"1024-65535"`) or protocol (`6`, `"tcp"`) as written.
#[derive(Deserialize, Serialize, Clone)]
#[serde(untagged)]
pub(crate) enum NumberOrName {
    Number(i64),
    Name(String),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConntrack {
    pub entries: Option<Spanned<u32>>,
    pub tcp_timeout: Option<Spanned<u32>>,
    pub other_timeout: Option<Spanned<u32>>,
}

/// `[conntrack]`, only in mode l3s.
pub(crate) fn conntrack(
    source: &Source,
    mode: Mode,
    file: Option<Spanned<FileConntrack>>,
) -> Result<ConntrackConf, ConfError> {
    let defaults = ConntrackConf::default();
    let Some(file) = file else {
        return Ok(defaults);
    };
    if mode != Mode::L3s {
        return Err(source.error_at(file.span(), "conntrack", "is mode l3s's: it needs mode = \"l3s\""));
    }
    let file = file.into_inner();
    let value = |given: Option<Spanned<u32>>, key: &str, range: RangeInclusive<u32>, default| match given {
        Some(n) => source.check_at(&n, &format!("conntrack.{key}"), |&n| check_range(n, range)),
        None => Ok(default),
    };
    Ok(ConntrackConf {
        entries: value(file.entries, "entries", ENTRIES_RANGE, defaults.entries)?,
        tcp_timeout: value(
            file.tcp_timeout,
            "tcp_timeout",
            TIMEOUT_RANGE,
            defaults.tcp_timeout,
        )?,
        other_timeout: value(
            file.other_timeout,
            "other_timeout",
            TIMEOUT_RANGE,
            defaults.other_timeout,
        )?,
    })
}

/// A slave's filter `label` ("slave[0].ingress"): only in mode l3s, `established` only on
/// ingress.
pub(crate) fn filter(
    source: &Source,
    label: &str,
    mode: Mode,
    file: Spanned<FileFilter>,
) -> Result<FilterConf, ConfError> {
    if mode != Mode::L3s {
        return Err(source.error_at(file.span(), label, "filters need mode = \"l3s\""));
    }
    let file = file.into_inner();
    let established = match file.established {
        Some(flag) if *flag.get_ref() && label.ends_with("egress") => {
            let message = "applies to ingress (the replies to the slave's connections)";
            return Err(source.error_at(flag.span(), &format!("{label}.established"), message));
        }
        Some(flag) => flag.into_inner(),
        None => false,
    };
    let default = match &file.default {
        Some(text) => source.parse_at(text, &format!("{label}.default"), parse_action)?,
        None => Action::Allow,
    };
    let rules = file
        .rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| self::rule(source, &format!("{label}.rules[{index}]"), rule))
        .collect::<Result<_, _>>()?;
    Ok(FilterConf {
        rules,
        default,
        established,
    })
}

fn rule(source: &Source, label: &str, rule: Spanned<FileRule>) -> Result<RuleConf, ConfError> {
    let span = rule.span();
    let rule = rule.into_inner();
    let key = |part: &str| format!("{label}.{part}");
    let action = match &rule.action {
        Some(text) => source.parse_at(text, &key("action"), parse_action)?,
        None => return Err(source.error_at(span, &key("action"), "is required (\"allow\" or \"deny\")")),
    };
    let network = |given: &Option<Spanned<String>>, part| {
        given
            .as_ref()
            .map(|text| source.parse_at(text, &key(part), parse_network))
            .transpose()
    };
    let (from, to) = (network(&rule.from, "from")?, network(&rule.to, "to")?);
    if let (Some(from), Some(to), Some(text)) = (from, to, &rule.to) {
        if from.0.is_ipv4() != to.0.is_ipv4() {
            let message = "is not of the family of from: the rule could match nothing";
            return Err(source.error_at(text.span(), &key("to"), message));
        }
    }
    let proto = rule
        .proto
        .as_ref()
        .map(|given| source.check_at(given, &key("proto"), parse_proto))
        .transpose()?;
    let ports = |given: &Option<Spanned<NumberOrName>>, part| {
        let Some(given) = given else {
            return Ok(None);
        };
        if !matches!(proto, Some(IPPROTO_TCP | IPPROTO_UDP)) {
            let message = "ports need proto = \"tcp\" or \"udp\"";
            return Err(source.error_at(given.span(), &key(part), message));
        }
        source.check_at(given, &key(part), parse_ports).map(Some)
    };
    Ok(RuleConf {
        action,
        from,
        to,
        proto,
        from_port: ports(&rule.from_port, "from_port")?,
        to_port: ports(&rule.to_port, "to_port")?,
    })
}

fn parse_action(text: &str) -> Result<Action, String> {
    [Action::Allow, Action::Deny]
        .into_iter()
        .find(|a| a.name() == text)
        .ok_or_else(|| format!("\"{text}\" is neither \"allow\" nor \"deny\""))
}

/// The protocols a rule may name, with their numbers.
const PROTOCOLS: [(&str, u8); 4] = [
    ("tcp", IPPROTO_TCP),
    ("udp", IPPROTO_UDP),
    ("icmp", IPPROTO_ICMP),
    ("icmpv6", switch_core::classify::IPPROTO_ICMPV6),
];

fn parse_proto(given: &NumberOrName) -> Result<u8, String> {
    match given {
        NumberOrName::Number(n) => {
            u8::try_from(*n).map_err(|_| format!("{n} is not an IP protocol number (0..=255)"))
        }
        NumberOrName::Name(name) => PROTOCOLS
            .iter()
            .find(|(known, _)| known == name)
            .map(|&(_, number)| number)
            .ok_or_else(|| {
                format!("\"{name}\" is no protocol: \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or a number")
            }),
    }
}

fn parse_ports(given: &NumberOrName) -> Result<(u16, u16), String> {
    let port = |n: i64| u16::try_from(n).map_err(|_| format!("{n} is not a port (0..=65535)"));
    match given {
        NumberOrName::Number(n) => port(*n).map(|p| (p, p)),
        NumberOrName::Name(text) => {
            let number = |t: &str| {
                t.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("\"{text}\" is not a port or a range \"low-high\""))
            };
            let (low, high) = match text.split_once('-') {
                Some((low, high)) => (port(number(low)?)?, port(number(high)?)?),
                None => {
                    let p = port(number(text)?)?;
                    (p, p)
                }
            };
            match low <= high {
                true => Ok((low, high)),
                false => Err(format!(
                    "the range \"{text}\" is empty: its low end is above its high end"
                )),
            }
        }
    }
}

impl From<&FilterConf> for FileFilter {
    fn from(filter: &FilterConf) -> Self {
        let action = |a: Action| unplaced(a.name().to_string());
        let ports = |p: Option<(u16, u16)>| {
            p.map(|(low, high)| unplaced(NumberOrName::Name(format!("{low}-{high}"))))
        };
        FileFilter {
            rules: filter
                .rules
                .iter()
                .map(|r| {
                    unplaced(FileRule {
                        action: Some(action(r.action)),
                        from: r.from.map(|n| unplaced(format_address(&n))),
                        to: r.to.map(|n| unplaced(format_address(&n))),
                        proto: r.proto.map(|p| unplaced(NumberOrName::Number(i64::from(p)))),
                        from_port: ports(r.from_port),
                        to_port: ports(r.to_port),
                    })
                })
                .collect(),
            default: Some(action(filter.default)),
            established: Some(unplaced(filter.established)),
        }
    }
}

impl From<&ConntrackConf> for FileConntrack {
    fn from(conntrack: &ConntrackConf) -> Self {
        FileConntrack {
            entries: Some(unplaced(conntrack.entries)),
            tcp_timeout: Some(unplaced(conntrack.tcp_timeout)),
            other_timeout: Some(unplaced(conntrack.other_timeout)),
        }
    }
}
