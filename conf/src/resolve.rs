//! Checks the file as read and turns it into a `Config`; every error names its line and key.

use std::net::IpAddr;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;

use toml::Spanned;

use crate::error::{ConfError, Source};
use crate::filter::{self, FileFilter};
use crate::l3::{self, L3Conf};
use crate::schema::{FileConfig, FilePort, FileSlave, FileVhost};
use crate::values::{
    check_lcores, check_range, check_ring_name, check_slave_name, is_multicast, parse_address, parse_mac,
    FirstUse,
};
use crate::{Backing, Config, ControlConf, Mode, PortConf, PortFlags, SlaveConf, VhostConf};

/// What `[eal] args` is when not given.
const DEFAULT_EAL_ARGS: [&str; 6] = ["-l", "0,1", "--no-pci", "--in-memory", "--file-prefix", "ipvsw"];

/// MTUs a port may be given: IPv4's minimum up to common jumbo frames.
const MTU_RANGE: RangeInclusive<u16> = 68..=9600;

/// Mbufs a pool may be given: a few bursts up to 16 M (36 GiB of buffers).
const POOL_MBUFS_RANGE: RangeInclusive<u32> = 16..=(1 << 24);
/// Up to 10 ms: longer would make a newly busy port wait more than a ring or NIC queue holds.
const IDLE_SLEEP_MAX_US_RANGE: RangeInclusive<u32> = 0..=10_000;

/// Slaves a switch may have room for: slave ids are 16 bits, one value marks an empty slot.
const MAX_SLAVES_RANGE: RangeInclusive<u32> = 1..=65_534;
/// Room for slaves when `max_slaves` is not given (more if the file has more).
const DEFAULT_MAX_SLAVES: u32 = 1024;

/// Queue pairs a vhost slave may offer.
const VHOST_QUEUES_RANGE: RangeInclusive<u16> = 1..=8;

/// Retries of a burst a guest's full virtqueue refused (OVS's tx-retries-max: 0..=32, 8).
const TX_RETRIES_RANGE: RangeInclusive<u8> = 0..=32;
pub const DEFAULT_TX_RETRIES: u8 = 8;

/// Receive queues (RSS) a port may be given: at least one.
const QUEUES_RANGE: RangeInclusive<u16> = 1..=u16::MAX;

pub(crate) fn resolve(source: &Source, mut file: FileConfig) -> Result<Config, ConfError> {
    let phy = file
        .phy
        .ok_or_else(|| source.missing("phy", "the [phy] table is required"))?;
    let (phy_span, mut phy) = (phy.span(), phy.into_inner());
    if let Some(host) = &file.host {
        if host.get_ref().addresses.is_some() || host.get_ref().proxy_neighbour.is_some() {
            let message = "addresses and proxy_neighbour are the master's: give them in [phy]";
            return Err(source.error_at(host.span(), "host", message));
        }
    }
    let mut ports = PortChecker {
        source,
        backings: FirstUse::default(),
    };
    let mut slaves = SlaveChecker {
        mode: file.mode.unwrap_or(Mode::L2),
        names: FirstUse::default(),
        addresses: FirstUse::default(),
    };
    // The master's addresses first: no slave may take one.
    let master = l3::addresses(
        source,
        &phy.addresses.take().unwrap_or_default(),
        &mut slaves.addresses,
    )?;
    let l3 = L3Conf {
        proxy_neighbour: phy.proxy_neighbour.take().unwrap_or(false),
        routes: l3::routes(source, std::mem::take(&mut file.route), &master)?,
        neighbours: l3::neighbours(source, std::mem::take(&mut file.neighbour))?,
        addresses: master,
    };
    let max_slaves = file.max_slaves;
    let mut config = Config {
        mode: file.mode.unwrap_or(Mode::L2),
        flags: file.flags.unwrap_or(PortFlags::Bridge),
        lcores: file
            .lcores
            .map(|lcores| resolve_lcores(source, &lcores))
            .transpose()?,
        idle_sleep_max_us: match file.idle_sleep_max_us {
            Some(us) => source.check_at(&us, "idle_sleep_max_us", |&n| {
                check_range(n, IDLE_SLEEP_MAX_US_RANGE)
            })?,
            None => 0,
        },
        eal_args: match file.eal.and_then(|eal| eal.args) {
            Some(args) => args,
            None => DEFAULT_EAL_ARGS.map(String::from).to_vec(),
        },
        pool_mbufs: file
            .pool
            .and_then(|pool| pool.mbufs)
            .map(|mbufs| source.check_at(&mbufs, "pool.mbufs", |&n| check_range(n, POOL_MBUFS_RANGE)))
            .transpose()?,
        phy: ports.port("phy", phy_span, phy)?,
        host: file
            .host
            .map(|host| ports.port("host", host.span(), host.into_inner()))
            .transpose()?,
        slaves: file
            .slave
            .into_iter()
            .enumerate()
            .map(|(index, slave)| slaves.slave(&mut ports, index, slave))
            .collect::<Result<_, _>>()?,
        log_level: None,
        stats_out: None,
        max_slaves: 0,
        l3,
        conntrack: filter::conntrack(source, file.mode.unwrap_or(Mode::L2), file.conntrack)?,
        control: match file.control {
            Some(control) => ControlConf {
                socket: control
                    .socket
                    .map(|path| source.parse_at(&path, "control.socket", check_socket_path))
                    .transpose()?,
                group: control
                    .group
                    .map(|group| source.parse_at(&group, "control.group", check_group_name))
                    .transpose()?,
            },
            None => ControlConf::default(),
        },
    };
    let count = config.slaves.len() as u32;
    config.max_slaves = match max_slaves {
        None => DEFAULT_MAX_SLAVES.max(count),
        Some(room) => source.check_at(&room, "max_slaves", |&n| {
            check_range(n, MAX_SLAVES_RANGE)?;
            match n < count {
                true => Err(format!("is {n}, and the file has {count} slaves")),
                false => Ok(n),
            }
        })?,
    };
    Ok(config)
}

fn resolve_lcores(source: &Source, lcores: &Spanned<Vec<Spanned<u32>>>) -> Result<Vec<u32>, ConfError> {
    let values: Vec<u32> = lcores.get_ref().iter().map(|lcore| *lcore.get_ref()).collect();
    check_lcores(&values).map_err(|error| match error.index {
        Some(index) => source.error_at(
            lcores.get_ref()[index].span(),
            &format!("lcores[{index}]"),
            error.message,
        ),
        None => source.error_at(lcores.span(), "lcores", error.message),
    })?;
    Ok(values)
}

/// Checks ports, remembering their backings: two ports cannot drive the same device or ring.
struct PortChecker<'a> {
    source: &'a Source<'a>,
    /// Backing identity (a device by its name before the first ',') -> the port using it.
    backings: FirstUse<String, String>,
}

impl PortChecker<'_> {
    /// Checks the port called `label` ("phy", "host", "slave[2]"), whose table is at `span`.
    fn port(&mut self, label: &str, span: Range<usize>, port: FilePort) -> Result<PortConf, ConfError> {
        let source = self.source;
        let slave = label.starts_with("slave");
        let (needs, keys) = match slave {
            true => (
                "needs a device, a ring or a vhost socket",
                "device, ring or vhost",
            ),
            false => ("needs a device or a ring", "device or ring"),
        };
        // The backing keys given, in the order written: exactly one is allowed.
        let mut given: Vec<(&str, Range<usize>)> = [
            port.device.as_ref().map(|v| ("device", v.span())),
            port.ring.as_ref().map(|v| ("ring", v.span())),
            port.vhost.as_ref().map(|v| ("vhost", v.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        given.sort_by_key(|(_, span)| span.start);
        match given.as_slice() {
            [] => return Err(source.error_at(span, label, needs)),
            [_] => {}
            [_, (second, at), ..] => {
                let message = format!("give only one of {keys}");
                return Err(source.error_at(at.clone(), &format!("{label}.{second}"), message));
            }
        }
        let (backing_key, backing_span) = given[0].clone();
        let backing_key = format!("{label}.{backing_key}");
        let backing = match (port.device, port.ring, port.vhost) {
            (Some(device), _, _) => Backing::Device(device.into_inner()),
            (_, Some(ring), _) => Backing::Ring(source.parse_at(&ring, &backing_key, check_ring_name)?),
            (_, _, Some(vhost)) if slave => Backing::Vhost(vhost_port(source, &backing_key, vhost)?),
            (_, _, Some(_)) => {
                return Err(source.error_at(backing_span, &backing_key, "only a slave can be a vhost port"));
            }
            (None, None, None) => unreachable!("one backing key was given"),
        };
        if let Err(first) = self.backings.claim(backing.identity(), label.to_string()) {
            let message = format!("{} is already used by {first}", backing.identity());
            return Err(source.error_at(backing_span, &backing_key, message));
        }
        let key = |name: &str| format!("{label}.{name}");
        let mac = port
            .mac
            .as_ref()
            .map(|mac| source.parse_at(mac, &key("mac"), |text| parse_mac_cast(text, false)));
        let queues = port.queues.as_ref().map(|queues| {
            source.check_at(queues, &key("queues"), |&queues| {
                check_range(queues, QUEUES_RANGE)
            })
        });
        let mtu = port
            .mtu
            .as_ref()
            .map(|mtu| source.check_at(mtu, &key("mtu"), |&mtu| check_range(mtu, MTU_RANGE)));
        Ok(PortConf {
            at: source.place(backing_span, &backing_key),
            backing,
            mac: mac.transpose()?,
            queues: queues.transpose()?.unwrap_or(1),
            mtu: mtu.transpose()?,
        })
    }
}

/// Checks a slave's `vhost` table, at `key`.
fn vhost_port(source: &Source, key: &str, table: Spanned<FileVhost>) -> Result<VhostConf, ConfError> {
    let span = table.span();
    let vhost = table.into_inner();
    let socket = vhost
        .socket
        .ok_or_else(|| source.error_at(span, &format!("{key}.socket"), "is required: the socket's path"))?;
    if socket.get_ref().is_empty() {
        return Err(source.error_at(socket.span(), &format!("{key}.socket"), "is empty"));
    }
    let queues = match vhost.queues {
        Some(queues) => source.check_at(&queues, &format!("{key}.queues"), |&queues| {
            check_range(queues, VHOST_QUEUES_RANGE)
        })?,
        None => 1,
    };
    let tx_retries = match vhost.tx_retries {
        Some(retries) => source.check_at(&retries, &format!("{key}.tx_retries"), |&retries| {
            check_range(retries, TX_RETRIES_RANGE)
        })?,
        None => DEFAULT_TX_RETRIES,
    };
    let guest_mac = vhost
        .guest_mac
        .map(|mac| {
            source.parse_at(&mac, &format!("{key}.guest_mac"), |text| {
                parse_mac_cast(text, false)
            })
        })
        .transpose()?;
    Ok(VhostConf {
        socket: PathBuf::from(socket.into_inner()),
        client: vhost.client.unwrap_or(false),
        queues,
        tx_retries,
        guest_mac,
    })
}

/// Parses a MAC that must be multicast or not: a port's own MAC is unicast (a group address
/// is no valid source), a group a slave joins is multicast.
fn parse_mac_cast(text: &str, multicast: bool) -> Result<[u8; 6], String> {
    let mac = parse_mac(text)?;
    let cast = |multicast| if multicast { "multicast" } else { "unicast" };
    if is_multicast(&mac) == multicast {
        Ok(mac)
    } else {
        Err(format!(
            "{text} is a {} MAC, not {}",
            cast(!multicast),
            cast(multicast)
        ))
    }
}

/// Checks slaves, remembering names and addresses: each must belong to one slave.
struct SlaveChecker {
    /// Filters need mode l3s.
    mode: Mode,
    /// Slave name -> index of the slave that has it.
    names: FirstUse<String, usize>,
    /// Address -> the slave that has it, as `"a" (slave[0])`.
    addresses: FirstUse<IpAddr, String>,
}

impl SlaveChecker {
    fn slave(
        &mut self,
        ports: &mut PortChecker,
        index: usize,
        table: Spanned<FileSlave>,
    ) -> Result<SlaveConf, ConfError> {
        let source = ports.source;
        let label = format!("slave[{index}]");
        let span = table.span();
        let slave = table.into_inner();
        let name_key = format!("{label}.name");
        let name_value = slave
            .name
            .ok_or_else(|| source.error_at(span.clone(), &name_key, "is required"))?;
        let name = source.parse_at(&name_value, &name_key, check_slave_name)?;
        if let Err(first) = self.names.claim(name.clone(), index) {
            let message = format!("slave name \"{name}\" is already used by slave[{first}]");
            return Err(source.error_at(name_value.span(), &name_key, message));
        }
        let port = FilePort {
            device: slave.device,
            ring: slave.ring,
            vhost: slave.vhost,
            mac: None,
            queues: None,
            mtu: slave.mtu,
            addresses: None,
            proxy_neighbour: None,
        };
        let port = ports.port(&label, span, port)?;
        let owner = format!("slave \"{name}\" ({label})");
        let mut addresses = Vec::new();
        for (position, text) in slave.addresses.iter().enumerate() {
            let key = format!("{label}.addresses[{position}]");
            let address = source.parse_at(text, &key, parse_address)?;
            if let Err(first) = self.addresses.claim(address.0, owner.clone()) {
                let message = format!("{} of {owner} is already on {first}", address.0);
                return Err(source.error_at(text.span(), &key, message));
            }
            addresses.push(address);
        }
        let multicast = slave
            .multicast
            .iter()
            .enumerate()
            .map(|(position, text)| {
                source.parse_at(text, &format!("{label}.multicast[{position}]"), |text| {
                    parse_mac_cast(text, true)
                })
            })
            .collect::<Result<_, _>>()?;
        let filter = |given: Option<Spanned<FileFilter>>, direction: &str| {
            let label = format!("{label}.{direction}");
            given
                .map(|f| filter::filter(source, &label, self.mode, f))
                .transpose()
        };
        Ok(SlaveConf {
            name,
            port,
            addresses,
            multicast,
            allmulti: slave.allmulti.unwrap_or(false),
            ingress: filter(slave.ingress, "ingress")?,
            egress: filter(slave.egress, "egress")?,
        })
    }
}

/// A control socket's path: absolute, and short enough for a Unix socket address.
fn check_socket_path(path: &str) -> Result<PathBuf, String> {
    // sun_path holds 108 bytes, the terminating NUL included.
    match (path.starts_with('/'), path.len()) {
        (false, _) => Err(format!("\"{path}\" is not an absolute path")),
        (_, n) if n > 107 => Err(format!("is {n} bytes long; a Unix socket path holds at most 107")),
        _ => Ok(PathBuf::from(path)),
    }
}

/// A group name as useradd accepts it.
fn check_group_name(name: &str) -> Result<String, String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    match !name.is_empty() && name.len() <= 32 && name.chars().all(valid) {
        true => Ok(name.to_string()),
        false => Err(format!("\"{name}\" is not a group name")),
    }
}
