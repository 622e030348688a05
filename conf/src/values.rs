//! Parsing and printing of the values written as strings: MACs, addresses, lcore lists, names.
//! Errors are plain messages; the caller adds the location.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// Parses "02:00:00:00:00:01".
pub(crate) fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("\"{text}\" is not a MAC address like 02:00:00:00:00:01");
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|part| part.len() == 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    match parts.next() {
        Some(_) => Err(bad()),
        None => Ok(mac),
    }
}

pub(crate) fn format_mac(mac: &[u8; 6]) -> String {
    mac.map(|byte| format!("{byte:02x}")).join(":")
}

/// A group address has the lowest bit of its first byte set.
pub(crate) fn is_multicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1
}

/// Parses "ADDR/PREFIX", or a bare "ADDR" meaning a host prefix (/32 or /128).
pub(crate) fn parse_address(text: &str) -> Result<(IpAddr, u8), String> {
    let (address_text, prefix_text) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address_text
        .parse()
        .map_err(|_| format!("\"{address_text}\" is not an IPv4 or IPv6 address"))?;
    let longest = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => longest,
        Some(prefix) => prefix
            .parse()
            .ok()
            .filter(|length| *length <= longest)
            .ok_or_else(|| format!("prefix length \"{prefix}\" of {address} is not in 0..={longest}"))?,
    };
    Ok((address, prefix))
}

pub(crate) fn format_address((address, prefix): &(IpAddr, u8)) -> String {
    format!("{address}/{prefix}")
}

/// Parses an lcore list as given to --lcores: "1,2", "1-3", or a mix such as "1,4-6".
pub(crate) fn parse_lcore_list(text: &str) -> Result<Vec<u32>, String> {
    let mut lcores = Vec::new();
    for item in text.split(',').map(str::trim) {
        let bad = || format!("\"{item}\" is not an lcore number or a range like 1-3");
        let number = |text: &str| text.trim().parse::<u32>().map_err(|_| bad());
        match item.split_once('-') {
            Some((first, last)) => {
                let range = number(first)?..=number(last)?;
                if range.is_empty() {
                    return Err(bad());
                }
                lcores.extend(range);
            }
            None => lcores.push(number(item)?),
        }
    }
    Ok(lcores)
}

/// What is wrong with a list of forwarding lcores, and at which entry (None: the whole list).
pub(crate) struct LcoreListError {
    pub index: Option<usize>,
    pub message: String,
}

/// Forwarding lcores must be given, and each once: two pollers on one lcore would starve each other.
pub(crate) fn check_lcores(lcores: &[u32]) -> Result<(), LcoreListError> {
    if lcores.is_empty() {
        return Err(LcoreListError {
            index: None,
            message: "needs at least one forwarding lcore".into(),
        });
    }
    let mut first_use = FirstUse::default();
    for (index, lcore) in lcores.iter().enumerate() {
        if let Err(first) = first_use.claim(lcore, index) {
            let message = format!("lcore {lcore} is listed twice (first as lcores[{first}])");
            return Err(LcoreListError {
                index: Some(index),
                message,
            });
        }
    }
    Ok(())
}

/// A plain name of 1 to `longest` of [A-Za-z0-9_-]; `what` names it in the error.
fn check_plain_name(name: &str, longest: usize, what: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if (1..=longest).contains(&name.len()) && name.chars().all(plain) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "\"{name}\" is not {what}: use 1 to {longest} of A-Z a-z 0-9 _ -"
        ))
    }
}

/// Slave names appear in logs and counters, so they are kept short and plain.
pub(crate) fn check_slave_name(name: &str) -> Result<String, String> {
    check_plain_name(name, 32, "a slave name")
}

/// A ring port's rings are DPDK rings `<name>_in` and `<name>_out`, whose names DPDK limits to
/// 28 characters.
pub(crate) fn check_ring_name(name: &str) -> Result<String, String> {
    check_plain_name(name, 24, "a ring name")
}

/// Checks a number against its allowed range.
pub(crate) fn check_range<T: PartialOrd + Copy + std::fmt::Display>(
    value: T,
    allowed: RangeInclusive<T>,
) -> Result<T, String> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is not in {}..={}",
            allowed.start(),
            allowed.end()
        ))
    }
}

/// Remembers who used each value first, so that a second use can be reported against the first.
pub(crate) struct FirstUse<V, W>(HashMap<V, W>);

impl<V, W> Default for FirstUse<V, W> {
    fn default() -> Self {
        FirstUse(HashMap::new())
    }
}

impl<V: Eq + Hash, W> FirstUse<V, W> {
    /// Records `who` as the user of `value`, or returns whoever used it first.
    pub fn claim(&mut self, value: V, who: W) -> Result<(), &W> {
        match self.0.entry(value) {
            Entry::Occupied(first) => Err(first.into_mut()),
            Entry::Vacant(vacant) => {
                vacant.insert(who);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips_and_rejects_malformed() {
        let mac = parse_mac("02:00:0A:ff:00:01").unwrap();
        assert_eq!(mac, [2, 0, 0xa, 0xff, 0, 1]);
        assert_eq!(format_mac(&mac), "02:00:0a:ff:00:01");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:00:00:00:00:01",
            "0g:00:00:00:00:01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn multicast_is_the_group_bit() {
        assert!(is_multicast(&[0x01, 0, 0x5e, 1, 1, 1]));
        assert!(is_multicast(&[0x33, 0x33, 0, 0, 0, 1]));
        assert!(!is_multicast(&[0x02, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn addresses_take_a_prefix_or_a_host_prefix() {
        assert_eq!(
            parse_address("10.0.0.1/24").unwrap(),
            ("10.0.0.1".parse().unwrap(), 24)
        );
        assert_eq!(parse_address("10.0.0.1").unwrap().1, 32);
        assert_eq!(parse_address("2001:db8::1").unwrap().1, 128);
        assert_eq!(parse_address("2001:db8::1/64").unwrap().1, 64);
        for bad in [
            "10.0.0.1/33",
            "2001:db8::1/129",
            "10.0.0.1/x",
            "10.0.0/24",
            "",
            "/24",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lcore_lists_take_numbers_and_ranges() {
        assert_eq!(parse_lcore_list("1-3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_lcore_list("1, 4-5").unwrap(), [1, 4, 5]);
        for bad in ["", "a", "3-1", "1-", "1,,2", "-1"] {
            assert!(parse_lcore_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lcore_checks_name_the_bad_entry() {
        assert!(check_lcores(&[1, 2]).is_ok());
        assert_eq!(check_lcores(&[]).unwrap_err().index, None);
        let twice = check_lcores(&[1, 2, 1]).unwrap_err();
        assert_eq!(twice.index, Some(2));
        assert_eq!(twice.message, "lcore 1 is listed twice (first as lcores[0])");
    }

    #[test]
    fn slave_names_are_plain_and_short() {
        assert!(check_slave_name("web-1_a").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(33)] {
            assert!(check_slave_name(bad).is_err(), "{bad}");
        }
    }
}
