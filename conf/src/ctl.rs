//! The command line of `ipvlan-switch ctl`, the client of a running switch's control socket.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `ipvlan-switch <command>`; without one, the switch runs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Talk to a running switch over its control socket
    Ctl(CtlArgs),
}

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The switch's control socket [default: the one of --config's file, or of the embedded
    /// configuration: /run/ipvlan-switch/<EAL file prefix>.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print the switch's answer as JSON (one line), for programs
    #[arg(long)]
    pub json: bool,

    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Show ports, addresses or counters
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Add a slave, or an address to a slave
    Add {
        #[command(subcommand)]
        what: Add,
    },
    /// Remove a slave, or an address from a slave
    Del {
        #[command(subcommand)]
        what: Del,
    },
    /// Bring a slave up or down
    Set {
        #[command(subcommand)]
        what: Set,
    },
    /// Re-read the configuration file and apply what changed (slaves only)
    Reload,
    /// Counters
    Stats {
        #[command(subcommand)]
        what: Stats,
    },
    /// Copy one port's frames (any port, a vhost slave too) to a device dpdk-dumpcap reads
    Capture {
        #[command(subcommand)]
        what: Capture,
    },
}

#[derive(Subcommand, Debug)]
pub enum Capture {
    /// Start copying PORT's frames, both ways; prints the dpdk-dumpcap command to run
    Start { port: String },
    /// Stop copying
    Stop,
}

#[derive(Subcommand, Debug)]
pub enum Show {
    /// Every port: kind, state, link, guest, queues, lcores
    Ports,
    /// Every slave address and its slave
    Addresses,
    /// Mode l3: the next hops' MACs, configured and resolved, with their states
    Neighbours,
    /// Mode l3: the master's local and connected networks and the configured routes
    Routes,
    /// Mode l3s: every slave's filtering rules, each direction's default last, with hits
    Filters,
    /// Every counter (drops by reason), of every port or of one, and each lcore's cycles
    Stats { port: Option<String> },
}

#[derive(Subcommand, Debug)]
pub enum Add {
    /// A slave, as a [[slave]] table of the configuration file would give it
    Slave(NewSlave),
    /// An address ("ADDR/PREFIX" or "ADDR") to a slave
    Address { slave: String, address: String },
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("backing").required(true)))]
pub struct NewSlave {
    pub name: String,
    /// Backed by the ring pair <RING>_in / <RING>_out
    #[arg(long, group = "backing", value_name = "RING")]
    pub ring: Option<String>,
    /// Backed by a DPDK device (a vdev string or a PCI address)
    #[arg(long, group = "backing", value_name = "DEVICE")]
    pub device: Option<String>,
    /// A vhost-user port on this socket
    #[arg(long, group = "backing", value_name = "SOCKET")]
    pub vhost: Option<PathBuf>,
    /// With --vhost: connect to a socket QEMU listens on
    #[arg(long, requires = "vhost")]
    pub client: bool,
    /// With --vhost: queue pairs offered to the guest
    #[arg(long, requires = "vhost", value_name = "N")]
    pub queues: Option<u16>,
    /// An address of the slave ("ADDR/PREFIX" or "ADDR"); repeat for more
    #[arg(long = "address", value_name = "ADDRESS")]
    pub addresses: Vec<String>,
    /// A multicast group MAC the slave receives; repeat for more
    #[arg(long = "multicast", value_name = "MAC")]
    pub multicast: Vec<String>,
    /// Receive every multicast frame
    #[arg(long)]
    pub allmulti: bool,
    #[arg(long)]
    pub mtu: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum Del {
    /// A slave: its port closes, every frame it held is freed
    Slave { name: String },
    /// An address of a slave
    Address { slave: String, address: String },
}

#[derive(Subcommand, Debug)]
pub enum Set {
    /// A slave's administrative state
    Port { name: String, state: State },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Up,
    Down,
}

#[derive(Subcommand, Debug)]
pub enum Stats {
    /// Count from zero again (what `show stats` shows; the lcores' counters are not touched)
    Clear,
}
