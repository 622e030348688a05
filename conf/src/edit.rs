//! Changes to a running configuration, as the control interface asks for them: each makes a
//! whole new configuration, checked exactly as a file is (names, backings, addresses owned
//! once), or the error that refuses it and changes nothing.

use toml::{Table, Value};

use crate::values::parse_address;
use crate::{ConfError, Config};

/// Where a refused change's error says it came from.
const ORIGIN: &str = "<request>";

impl Config {
    /// This configuration plus the slave `slave` (a `[[slave]]` table, keys as in the file).
    pub fn with_slave(&self, slave: Table) -> Result<Config, ConfError> {
        self.edited(|slaves| {
            slaves.push(Value::Table(slave));
            Ok(())
        })
    }

    /// This configuration without the slave called `name`.
    pub fn without_slave(&self, name: &str) -> Result<Config, ConfError> {
        self.edited(|slaves| {
            let at = position(slaves, name)?;
            slaves.remove(at);
            Ok(())
        })
    }

    /// Slave `name` with `address` ("ADDR/PREFIX" or "ADDR") too.
    pub fn with_address(&self, name: &str, address: &str) -> Result<Config, ConfError> {
        self.edited(|slaves| {
            let at = position(slaves, name)?;
            addresses(&mut slaves[at]).push(Value::String(address.to_string()));
            Ok(())
        })
    }

    /// Slave `name` without `address` (its prefix length, if given, is not compared).
    pub fn without_address(&self, name: &str, address: &str) -> Result<Config, ConfError> {
        let (ip, _) = parse_address(address).map_err(request_error)?;
        self.edited(|slaves| {
            let at = position(slaves, name)?;
            let list = addresses(&mut slaves[at]);
            let same = |v: &Value| {
                v.as_str()
                    .and_then(|t| parse_address(t).ok())
                    .is_some_and(|(a, _)| a == ip)
            };
            let index = list
                .iter()
                .position(same)
                .ok_or_else(|| request_error(format!("slave \"{name}\" has no address {ip}")))?;
            list.remove(index);
            Ok(())
        })
    }

    /// The first setting other than the slaves, routes and neighbours that differs in `new`
    /// (what only a restart can change: mode, flags, lcores, EAL arguments, the pool, the phy
    /// and its addresses, the host port...).
    pub fn restart_needed(&self, new: &Config) -> Option<String> {
        let (old, new) = (self.table(), new.table());
        let live = ["slave", "route", "neighbour"];
        let keys = old
            .keys()
            .chain(new.keys())
            .filter(|key| !live.contains(&key.as_str()));
        keys.into_iter()
            .find(|key| old.get(*key) != new.get(*key))
            .cloned()
    }

    fn table(&self) -> Table {
        toml::from_str(&self.to_toml()).expect("a Config's own TOML parses")
    }

    /// The configuration with its `[[slave]]` list changed by `edit`, checked again.
    fn edited(
        &self,
        edit: impl FnOnce(&mut Vec<Value>) -> Result<(), ConfError>,
    ) -> Result<Config, ConfError> {
        let mut table = self.table();
        let slaves = table.entry("slave").or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(slaves) = slaves else {
            unreachable!("a Config's slaves are an array of tables");
        };
        edit(slaves)?;
        let text = toml::to_string(&table).map_err(|e| request_error(e.to_string()))?;
        let mut config = Config::parse(&text, ORIGIN).map_err(|e| ConfError { line: None, ..e })?;
        config.log_level.clone_from(&self.log_level);
        config.stats_out.clone_from(&self.stats_out);
        Ok(config)
    }
}

fn request_error(message: impl Into<String>) -> ConfError {
    ConfError {
        file: ORIGIN.into(),
        line: None,
        key: None,
        message: message.into(),
    }
}

/// Where the slave called `name` is in the list.
fn position(slaves: &[Value], name: &str) -> Result<usize, ConfError> {
    slaves
        .iter()
        .position(|s| s.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| request_error(format!("no slave is called \"{name}\"")))
}

/// A slave table's address list (made empty if it has none).
fn addresses(slave: &mut Value) -> &mut Vec<Value> {
    let table = slave.as_table_mut().expect("a Config's slave is a table");
    match table
        .entry("addresses")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(list) => list,
        _ => unreachable!("a Config's addresses are an array"),
    }
}
