//! The command line: which configuration to use, and the settings it overrides.

use std::path::PathBuf;

use clap::Parser;

use crate::ctl::Command;
use crate::values::{check_lcores, parse_lcore_list};
use crate::{ConfError, Config, DEFAULT_CONFIG};

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "ipvlan-switch",
    version,
    about = "A DPDK poll-mode switch with Linux ipvlan semantics: one NIC, many slaves sharing its MAC"
)]
pub struct Cli {
    /// Run the switch with this configuration file [default: the embedded one]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Check this configuration file, print it resolved, and exit without starting DPDK
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub check_config: Option<PathBuf>,

    /// Forwarding lcores, e.g. "1,2" or "1-3"; replaces `lcores` of the file
    #[arg(long, value_name = "LIST")]
    pub lcores: Option<String>,

    /// EAL arguments, split at whitespace; replaces [eal] args of the file
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub eal_args: Option<String>,

    /// Log level
    #[arg(long, value_name = "LEVEL", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: Option<String>,

    /// Log lines as text or as JSON objects (one per line, for a log collector)
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,

    /// Write the counters as JSON to this file on exit
    #[arg(long, value_name = "FILE")]
    pub stats_out: Option<PathBuf>,

    /// Print every port's packet rates every SECONDS while running
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stats_period: Option<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The configuration to run (or check): the file given, else the embedded default,
    /// with the command line's overrides applied.
    pub fn resolve(&self) -> Result<Config, ConfError> {
        let mut config = match self.check_config.as_ref().or(self.config.as_ref()) {
            Some(path) => Config::load(path)?,
            None => Config::parse(DEFAULT_CONFIG, "<default>")?,
        };
        if let Some(list) = &self.lcores {
            config.lcores = Some(lcores_option(list).map_err(|message| ConfError {
                file: "<command line>".into(),
                line: None,
                key: Some("--lcores".into()),
                message,
            })?);
        }
        if let Some(args) = &self.eal_args {
            config.eal_args = args.split_whitespace().map(String::from).collect();
        }
        config.log_level.clone_from(&self.log_level);
        config.stats_out.clone_from(&self.stats_out);
        Ok(config)
    }
}

/// The lcores given to --lcores, checked as the file's are.
fn lcores_option(list: &str) -> Result<Vec<u32>, String> {
    let lcores = parse_lcore_list(list)?;
    check_lcores(&lcores).map_err(|error| error.message)?;
    Ok(lcores)
}
