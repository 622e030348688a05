//! Mode l3's part of the configuration: the master's own addresses (`[phy] addresses`, each
//! giving a connected route), static routes (`[[route]]`) and static neighbours
//! (`[[neighbour]]`), and `[phy] proxy_neighbour`. Checked as the rest: file, line and key.

use std::net::IpAddr;

use serde::Serialize;
use toml::Spanned;

use crate::error::{ConfError, Source};
use crate::schema::{FileNeighbour, FileRoute};
use crate::values::{parse_address, parse_mac, FirstUse};

/// What mode l3 routes with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct L3Conf {
    /// The master's addresses with their prefix lengths: local to the host, and each prefix a
    /// connected network on the phy.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Answer ARP/NS on the phy for the slaves' addresses with the master's MAC.
    pub proxy_neighbour: bool,
    pub routes: Vec<RouteConf>,
    pub neighbours: Vec<NeighbourConf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteConf {
    /// The network, its host bits zero.
    pub to: (IpAddr, u8),
    /// The next hop: on one of the master's connected networks.
    pub via: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighbourConf {
    pub ip: IpAddr,
    pub mac: [u8; 6],
}

/// `address`'s network bits under `prefix` (the address itself as a number, masked).
fn network((address, prefix): (IpAddr, u8)) -> u128 {
    let (bits, width) = match address {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    let host_bits = width - u32::from(prefix);
    bits.checked_shr(host_bits)
        .unwrap_or(0)
        .checked_shl(host_bits)
        .unwrap_or(0)
}

/// Is `ip` on the network of `(address, prefix)`?
pub fn on_network(ip: IpAddr, network_of: (IpAddr, u8)) -> bool {
    ip.is_ipv4() == network_of.0.is_ipv4() && network((ip, network_of.1)) == network(network_of)
}

/// The master's addresses, each once; `owners` remembers them, so that no slave takes one.
pub(crate) fn addresses(
    source: &Source,
    list: &[Spanned<String>],
    owners: &mut FirstUse<IpAddr, String>,
) -> Result<Vec<(IpAddr, u8)>, ConfError> {
    let mut addresses = Vec::new();
    for (position, text) in list.iter().enumerate() {
        let key = format!("phy.addresses[{position}]");
        let address = source.parse_at(text, &key, parse_address)?;
        if let Err(first) = owners.claim(address.0, "the master ([phy] addresses)".into()) {
            return Err(source.error_at(text.span(), &key, format!("{} is already on {first}", address.0)));
        }
        addresses.push(address);
    }
    Ok(addresses)
}

/// The routes: each network once, its host bits zero, its next hop of its family and on one
/// of the master's networks.
pub(crate) fn routes(
    source: &Source,
    routes: Vec<Spanned<FileRoute>>,
    master: &[(IpAddr, u8)],
) -> Result<Vec<RouteConf>, ConfError> {
    let mut seen = FirstUse::default();
    let mut resolved = Vec::new();
    for (index, route) in routes.into_iter().enumerate() {
        let label = format!("route[{index}]");
        let span = route.span();
        let route = route.into_inner();
        let (to_key, via_key) = (format!("{label}.to"), format!("{label}.via"));
        let to_text = route
            .to
            .ok_or_else(|| source.error_at(span.clone(), &to_key, "is required"))?;
        let via_text = route
            .via
            .ok_or_else(|| source.error_at(span, &via_key, "is required"))?;
        let to = source.parse_at(&to_text, &to_key, parse_network)?;
        if let Err(first) = seen.claim(to, label.clone()) {
            let message = format!("a route to {} is already in {first}", network_text(to));
            return Err(source.error_at(to_text.span(), &to_key, message));
        }
        let via = source.parse_at(&via_text, &via_key, |text| {
            let via: IpAddr = text
                .parse()
                .map_err(|_| format!("\"{text}\" is not an IP address"))?;
            if via.is_ipv4() != to.0.is_ipv4() {
                return Err(format!("{via} and {} are not of one family", network_text(to)));
            }
            match master.iter().any(|&own| on_network(via, own)) {
                true => Ok(via),
                false => Err(format!(
                    "{via} is on none of the master's networks ([phy] addresses): a next hop must be on-link"
                )),
            }
        })?;
        resolved.push(RouteConf { to, via });
    }
    Ok(resolved)
}

/// A network (`"10.1.0.0/16"`; an address alone is a host's), its host bits zero.
pub(crate) fn parse_network(text: &str) -> Result<(IpAddr, u8), String> {
    let to = parse_address(text)?;
    let bits = match to.0 {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    match bits == network(to) {
        true => Ok(to),
        false => Err(format!(
            "{text} has host bits set: the network is {}",
            network_text(to)
        )),
    }
}

fn network_text(to: (IpAddr, u8)) -> String {
    format!("{}/{}", network_of(to.0, to.1), to.1)
}

/// The network of `address` under `prefix` (its host bits zero).
pub fn network_of(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(_) => IpAddr::from((network((address, prefix)) as u32).to_be_bytes()),
        IpAddr::V6(_) => IpAddr::from(network((address, prefix)).to_be_bytes()),
    }
}

/// Static neighbours: each address once, each MAC a unicast one.
pub(crate) fn neighbours(
    source: &Source,
    list: Vec<Spanned<FileNeighbour>>,
) -> Result<Vec<NeighbourConf>, ConfError> {
    let mut seen = FirstUse::default();
    let mut resolved = Vec::new();
    for (index, neighbour) in list.into_iter().enumerate() {
        let label = format!("neighbour[{index}]");
        let span = neighbour.span();
        let neighbour = neighbour.into_inner();
        let (ip_key, mac_key) = (format!("{label}.ip"), format!("{label}.mac"));
        let ip_text = neighbour
            .ip
            .ok_or_else(|| source.error_at(span.clone(), &ip_key, "is required"))?;
        let mac_text = neighbour
            .mac
            .ok_or_else(|| source.error_at(span, &mac_key, "is required"))?;
        let ip: IpAddr = source.parse_at(&ip_text, &ip_key, |text| {
            text.parse()
                .map_err(|_| format!("\"{text}\" is not an IP address"))
        })?;
        if let Err(first) = seen.claim(ip, label.clone()) {
            return Err(source.error_at(ip_text.span(), &ip_key, format!("{ip} is already {first}")));
        }
        let mac = source.parse_at(&mac_text, &mac_key, |text| {
            let mac = parse_mac(text)?;
            match (mac[0] & 1, mac) {
                (_, [0, 0, 0, 0, 0, 0]) => Err(format!("{text} is the all-zero MAC: no neighbour's")),
                (0, _) => Ok(mac),
                _ => Err(format!(
                    "{text} is a multicast MAC: a neighbour has a unicast one"
                )),
            }
        })?;
        resolved.push(NeighbourConf { ip, mac });
    }
    Ok(resolved)
}
