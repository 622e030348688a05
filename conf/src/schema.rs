//! The configuration file as written: the one definition of its key names, read with spans
//! (for error lines) and written back by `Config::to_toml`.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::filter::{FileConntrack, FileFilter};
use crate::values::{format_address, format_mac};
use crate::{Backing, Config, Mode, PortConf, PortFlags, SlaveConf};

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub mode: Option<Mode>,
    pub flags: Option<PortFlags>,
    pub lcores: Option<Spanned<Vec<Spanned<u32>>>>,
    pub idle_sleep_max_us: Option<Spanned<u32>>,
    pub max_slaves: Option<Spanned<u32>>,
    pub eal: Option<FileEal>,
    pub pool: Option<FilePool>,
    pub control: Option<FileControl>,
    pub conntrack: Option<Spanned<FileConntrack>>,
    pub phy: Option<Spanned<FilePort>>,
    pub host: Option<Spanned<FilePort>>,
    #[serde(default)]
    pub slave: Vec<Spanned<FileSlave>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<Spanned<FileRoute>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbour: Vec<Spanned<FileNeighbour>>,
}

/// A `[[route]]`: `to = "PREFIX"`, `via = "NEXT HOP"` (mode l3).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRoute {
    pub to: Option<Spanned<String>>,
    pub via: Option<Spanned<String>>,
}

/// A `[[neighbour]]`: a static entry, `ip = "..."`, `mac = "..."` (mode l3).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileNeighbour {
    pub ip: Option<Spanned<String>>,
    pub mac: Option<Spanned<String>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEal {
    pub args: Option<Vec<String>>,
}

/// `[control]`: the control socket.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileControl {
    pub socket: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
}

/// `[pool]`: the packet-buffer pool.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePool {
    pub mbufs: Option<Spanned<u32>>,
}

/// `[phy]` and `[host]`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePort {
    pub device: Option<Spanned<String>>,
    pub ring: Option<Spanned<String>>,
    /// Slaves only; given here so that the port check can say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<Spanned<FileVhost>>,
    pub mac: Option<Spanned<String>>,
    pub queues: Option<Spanned<u16>>,
    pub mtu: Option<Spanned<u16>>,
    /// The phy only: the master's own addresses (mode l3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<Spanned<String>>>,
    /// The phy only: answer ARP/NS for the slaves' addresses (mode l3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_neighbour: Option<bool>,
}

/// A slave's `vhost = { socket = "...", client = false, queues = 1, tx_retries = 8,
/// guest_mac = "..." }`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileVhost {
    pub socket: Option<Spanned<String>>,
    pub client: Option<bool>,
    pub queues: Option<Spanned<u16>>,
    pub tx_retries: Option<Spanned<u8>>,
    pub guest_mac: Option<Spanned<String>>,
}

/// One `[[slave]]`: its port has no MAC (slaves share the master's) and one queue.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSlave {
    pub name: Option<Spanned<String>>,
    pub device: Option<Spanned<String>>,
    pub ring: Option<Spanned<String>>,
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub multicast: Vec<Spanned<String>>,
    pub allmulti: Option<bool>,
    pub mtu: Option<Spanned<u16>>,
    pub vhost: Option<Spanned<FileVhost>>,
    pub ingress: Option<Spanned<FileFilter>>,
    pub egress: Option<Spanned<FileFilter>>,
}

/// A value built in memory: it has no place in any file.
pub(crate) fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

impl From<&Config> for FileConfig {
    fn from(config: &Config) -> Self {
        FileConfig {
            mode: Some(config.mode),
            flags: Some(config.flags),
            lcores: config
                .lcores
                .as_ref()
                .map(|lcores| unplaced(lcores.iter().copied().map(unplaced).collect())),
            idle_sleep_max_us: Some(unplaced(config.idle_sleep_max_us)),
            max_slaves: Some(unplaced(config.max_slaves)),
            eal: Some(FileEal {
                args: Some(config.eal_args.clone()),
            }),
            pool: config.pool_mbufs.map(|mbufs| FilePool {
                mbufs: Some(unplaced(mbufs)),
            }),
            conntrack: (config.mode == Mode::L3s).then(|| unplaced(FileConntrack::from(&config.conntrack))),
            control: Some(FileControl {
                socket: config
                    .control
                    .socket
                    .as_ref()
                    .map(|path| unplaced(path.display().to_string())),
                group: config.control.group.clone().map(unplaced),
            }),
            phy: Some(unplaced(FilePort {
                addresses: Some(
                    config
                        .l3
                        .addresses
                        .iter()
                        .map(|a| unplaced(format_address(a)))
                        .collect(),
                ),
                proxy_neighbour: Some(config.l3.proxy_neighbour),
                ..FilePort::from(&config.phy)
            })),
            host: config.host.as_ref().map(|host| unplaced(FilePort::from(host))),
            slave: config
                .slaves
                .iter()
                .map(|slave| unplaced(FileSlave::from(slave)))
                .collect(),
            route: config
                .l3
                .routes
                .iter()
                .map(|route| {
                    unplaced(FileRoute {
                        to: Some(unplaced(format_address(&route.to))),
                        via: Some(unplaced(route.via.to_string())),
                    })
                })
                .collect(),
            neighbour: config
                .l3
                .neighbours
                .iter()
                .map(|n| {
                    unplaced(FileNeighbour {
                        ip: Some(unplaced(n.ip.to_string())),
                        mac: Some(unplaced(format_mac(&n.mac))),
                    })
                })
                .collect(),
        }
    }
}

impl From<&PortConf> for FilePort {
    fn from(port: &PortConf) -> Self {
        let BackingKeys { device, ring, vhost } = backing_keys(&port.backing);
        FilePort {
            device,
            ring,
            vhost,
            mac: port.mac.as_ref().map(|mac| unplaced(format_mac(mac))),
            queues: Some(unplaced(port.queues)),
            mtu: port.mtu.map(unplaced),
            addresses: None,
            proxy_neighbour: None,
        }
    }
}

impl From<&SlaveConf> for FileSlave {
    fn from(slave: &SlaveConf) -> Self {
        let BackingKeys { device, ring, vhost } = backing_keys(&slave.port.backing);
        FileSlave {
            name: Some(unplaced(slave.name.clone())),
            device,
            ring,
            addresses: slave
                .addresses
                .iter()
                .map(|address| unplaced(format_address(address)))
                .collect(),
            multicast: slave
                .multicast
                .iter()
                .map(|mac| unplaced(format_mac(mac)))
                .collect(),
            allmulti: Some(slave.allmulti),
            mtu: slave.port.mtu.map(unplaced),
            vhost,
            ingress: slave.ingress.as_ref().map(|f| unplaced(FileFilter::from(f))),
            egress: slave.egress.as_ref().map(|f| unplaced(FileFilter::from(f))),
        }
    }
}

/// The `device`, `ring` and `vhost` keys for a backing: exactly one is set.
struct BackingKeys {
    device: Option<Spanned<String>>,
    ring: Option<Spanned<String>>,
    vhost: Option<Spanned<FileVhost>>,
}

fn backing_keys(backing: &Backing) -> BackingKeys {
    let none = BackingKeys {
        device: None,
        ring: None,
        vhost: None,
    };
    match backing {
        Backing::Device(device) => BackingKeys {
            device: Some(unplaced(device.clone())),
            ..none
        },
        Backing::Ring(ring) => BackingKeys {
            ring: Some(unplaced(ring.clone())),
            ..none
        },
        Backing::Vhost(vhost) => BackingKeys {
            vhost: Some(unplaced(FileVhost {
                socket: Some(unplaced(vhost.socket.display().to_string())),
                client: Some(vhost.client),
                queues: Some(unplaced(vhost.queues)),
                tx_retries: Some(unplaced(vhost.tx_retries)),
                guest_mac: vhost.guest_mac.as_ref().map(|mac| unplaced(format_mac(mac))),
            })),
            ..none
        },
    }
}
