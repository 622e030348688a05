//! Configuration of ipvlan-switch: the TOML file, its validation, and the command line.
//!
//! Every error names the file, line and key path at fault, so that a wrong file is fixed
//! without starting DPDK.

mod cli;
pub mod ctl;
mod edit;
mod error;
mod filter;
mod l3;
mod locate;
mod resolve;
mod schema;
mod values;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use cli::Cli;
pub use ctl::Command;
pub use error::ConfError;
pub use filter::{ConntrackConf, FilterConf, RuleConf};
pub use l3::{network_of, on_network, L3Conf, NeighbourConf, RouteConf};
pub use resolve::DEFAULT_TX_RETRIES;
pub use switch_core::{Mode, PortFlags};

use error::Source;
use schema::FileConfig;

/// The configuration used when no file is given: a TAP device stands in for the NIC, two vhost-user slaves.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

/// What a port is made of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Backing {
    /// A DPDK device string: a PCI address or a vdev such as "net_tap0,iface=ipvl0".
    Device(String),
    /// A pair of rte_rings, by name.
    Ring(String),
    /// A vhost-user socket a guest attaches to (slaves only).
    Vhost(VhostConf),
}

/// A vhost-user slave's socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VhostConf {
    pub socket: PathBuf,
    /// The switch connects (and reconnects) to a socket QEMU listens on; else it listens.
    pub client: bool,
    /// Queue pairs offered to the guest.
    pub queues: u16,
    /// Times a burst the guest's full virtqueue did not take is offered again before the rest
    /// is dropped and counted.
    pub tx_retries: u8,
    /// The guest's own MAC, if it is not the master's: the switch rewrites to and from it.
    /// Unset: learned from the guest's frames.
    pub guest_mac: Option<[u8; 6]>,
}

impl VhostConf {
    /// The QEMU options that attach a guest to this socket as netdev `id`, the guest using
    /// `mac` (guest memory must be shared with the switch: the memory backend).
    pub fn qemu_options(&self, id: &str, mac: &[u8; 6]) -> String {
        let listen = if self.client { ",server=on,wait=off" } else { "" };
        let (queues, mq) = match self.queues {
            1 => (String::new(), String::new()),
            n => (format!(",queues={n}"), format!(",mq=on,vectors={}", 2 * n + 2)),
        };
        format!(
            "-object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem \
             -chardev socket,id={id},path={}{listen} -netdev vhost-user,id={id},chardev={id}{queues} \
             -device virtio-net-pci,netdev={id},mac={}{mq}",
            self.socket.display(),
            values::format_mac(mac)
        )
    }
}

impl Backing {
    /// What two ports cannot share, in words: the ring, the socket, or the device named
    /// before its first ','.
    fn identity(&self) -> String {
        match self {
            Backing::Device(device) => format!("device {:?}", device.split(',').next().unwrap_or_default()),
            Backing::Ring(ring) => format!("ring {ring:?}"),
            Backing::Vhost(vhost) => format!("vhost socket {:?}", vhost.socket.display().to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PortConf {
    pub backing: Backing,
    pub mac: Option<[u8; 6]>,
    /// Receive queues (RSS); at least 1. Only the phy's is given in the file; others are 1.
    pub queues: u16,
    /// 68..=9600 when given.
    pub mtu: Option<u16>,
    /// Where the backing was given, for runtime errors: e.g. "switch.toml:12: phy.device".
    pub at: String,
}

impl PortConf {
    /// The same port, wherever each was written.
    pub fn same_as(&self, other: &PortConf) -> bool {
        (&self.backing, self.mac, self.queues, self.mtu)
            == (&other.backing, other.mac, other.queues, other.mtu)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SlaveConf {
    pub name: String,
    /// Its port; a slave has no MAC of its own (it uses the master's) and one queue.
    pub port: PortConf,
    /// Address and prefix length, e.g. (10.0.0.11, 24); each address is on one slave only.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Multicast group MACs the slave receives.
    pub multicast: Vec<[u8; 6]>,
    /// Receives every multicast frame.
    pub allmulti: bool,
    /// Mode l3s: what may reach the slave (from the wire or another slave); `None`: all.
    pub ingress: Option<FilterConf>,
    /// Mode l3s: what the slave may send; `None`: all.
    pub egress: Option<FilterConf>,
}

/// `[control]`: where the control interface listens, and who may use it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControlConf {
    /// `None`: `/run/ipvlan-switch/<EAL file prefix>.sock` (see `Config::control_socket`).
    pub socket: Option<PathBuf>,
    /// A group whose members may use the socket too (else its owner and root only).
    pub group: Option<String>,
}

/// Where control sockets go when `[control] socket` is not given.
pub const CONTROL_DIR: &str = "/run/ipvlan-switch";

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub mode: Mode,
    pub flags: PortFlags,
    /// Forwarding lcores: non-empty, each once; `None`: every worker lcore of the EAL arguments.
    pub lcores: Option<Vec<u32>>,
    pub eal_args: Vec<String>,
    /// Mbufs in the packet pool; `None`: what the switch can hold in flight.
    pub pool_mbufs: Option<u32>,
    /// The longest an lcore whose polls come back empty sleeps between rounds, in µs (0: never
    /// sleeps, the benchmark setting).
    pub idle_sleep_max_us: u32,
    /// Slaves the switch has room for, those added at run time included.
    pub max_slaves: u32,
    pub control: ControlConf,
    /// Mode l3's addresses, routes and neighbours.
    pub l3: L3Conf,
    /// Mode l3s's connection table.
    pub conntrack: ConntrackConf,
    /// The port to the NIC (the ipvlan master).
    pub phy: PortConf,
    /// The port to the host's stack, if any.
    pub host: Option<PortConf>,
    pub slaves: Vec<SlaveConf>,
    /// Set by the command line only.
    pub log_level: Option<String>,
    /// Set by the command line only.
    pub stats_out: Option<PathBuf>,
}

impl Config {
    /// Parses and checks a configuration; `origin` names it in errors (a file name, "<default>").
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfError> {
        let source = Source { origin, text };
        let file: FileConfig = toml::from_str(text).map_err(|error| source.toml_error(&error))?;
        resolve::resolve(&source, file)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfError> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, &origin),
            Err(error) => Err(ConfError {
                file: origin,
                line: None,
                key: None,
                message: error.to_string(),
            }),
        }
    }

    /// The control socket's path: the configured one, else one per EAL file prefix (so that two
    /// switches on one host need not configure it, and a second with the same prefix, which
    /// DPDK would refuse anyway, is told so by the socket first).
    pub fn control_socket(&self) -> PathBuf {
        if let Some(path) = &self.control.socket {
            return path.clone();
        }
        Path::new(CONTROL_DIR).join(format!("{}.sock", self.file_prefix()))
    }

    /// The EAL file prefix: `--file-prefix`'s, else DPDK's default, "rte".
    pub fn file_prefix(&self) -> &str {
        let prefix = self.eal_args.iter().position(|a| a == "--file-prefix");
        prefix
            .and_then(|i| self.eal_args.get(i + 1))
            .map_or("rte", String::as_str)
    }

    /// The configuration as a file, all defaults filled in; `parse` reads it back to the same
    /// configuration. The command-line-only settings (log level, stats file) are not in it.
    pub fn to_toml(&self) -> String {
        toml::to_string(&FileConfig::from(self)).expect("a Config always serializes to TOML")
    }
}
