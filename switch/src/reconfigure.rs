//! Changes while the switch runs: a new configuration is applied as its difference from the
//! running one. Slaves are added, removed and changed while every other port forwards: the
//! lcores get a new slave's queues before the tables name it, and give a removed slave's
//! queues back only after the tables stopped naming it.

use serde::Serialize;

use conf::{Config, SlaveConf};
use dpdk_wrap::Eal;
use switch_core::table::SlaveId;

use crate::runtime::{Switch, SwitchError};

/// What applying a configuration changed, by slave name.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Same port, other addresses or multicast settings.
    pub changed: Vec<String>,
    /// The routes or static neighbours changed (mode l3).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub routes: bool,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && !self.routes
    }
}

impl Switch {
    /// Makes the running switch what `new` describes. Only slaves can change while it runs:
    /// any other difference is refused and nothing is applied. A slave whose port changed is
    /// removed and added again.
    pub fn apply(&mut self, eal: &Eal, new: &Config) -> Result<Applied, SwitchError> {
        if let Some(key) = self.config().restart_needed(new) {
            return Err(SwitchError::Config(format!(
                "`{key}` differs from the running configuration, and only a restart changes it: nothing applied"
            )));
        }
        let mut applied = Applied {
            routes: (&new.l3.routes, &new.l3.neighbours)
                != (&self.settings.l3.routes, &self.settings.l3.neighbours),
            ..Applied::default()
        };
        let (mut gone, mut fresh) = (Vec::new(), Vec::new());
        for (id, running) in self.live_slaves() {
            match new.slaves.iter().find(|s| s.name == running.name) {
                None => gone.push(id),
                Some(wanted) if !wanted.port.same_as(&running.port) => {
                    gone.push(id);
                    fresh.push(wanted.clone());
                }
                Some(wanted) if !same_dispatch(wanted, running) => applied.changed.push(wanted.name.clone()),
                Some(_) => {}
            }
        }
        let known = |name: &str| self.slave_index(name).is_some();
        fresh.extend(new.slaves.iter().filter(|s| !known(&s.name)).cloned());
        let room = self.slaves.len();
        let after = self.live_slaves().count() - gone.len() + fresh.len();
        if after > room {
            return Err(SwitchError::Config(format!(
                "{after} slaves do not fit: the switch has room for {room} (max_slaves, set at start): nothing applied"
            )));
        }

        // Removed first: their addresses may move to a new slave, their rings and sockets be
        // taken by one.
        if !gone.is_empty() {
            applied.removed = gone.iter().filter_map(|&id| self.slave_name(id)).collect();
            self.remove_slaves(&gone);
        }
        for name in &applied.changed {
            let id = self.slave_index(name).expect("a changed slave runs");
            self.slaves[usize::from(id)] = new.slaves.iter().find(|s| &s.name == name).cloned();
        }
        self.settings.l3.routes.clone_from(&new.l3.routes);
        self.settings.l3.neighbours.clone_from(&new.l3.neighbours);
        let result = self.add_slaves(eal, &fresh, &mut applied.added);
        self.publish();
        if !applied.is_empty() {
            tracing::info!(
                added = ?applied.added,
                removed = ?applied.removed,
                changed = ?applied.changed,
                routes = applied.routes,
                "configuration applied"
            );
        }
        result.map(|()| applied)
    }

    fn live_slaves(&self) -> impl Iterator<Item = (SlaveId, &SlaveConf)> {
        let live = self.slaves.iter().enumerate();
        live.filter_map(|(id, s)| s.as_ref().map(|s| (id as SlaveId, s)))
    }

    fn slave_name(&self, id: SlaveId) -> Option<String> {
        self.slaves[usize::from(id)].as_ref().map(|s| s.name.clone())
    }

    /// Takes `ids` out of the tables, then out of the lcores, then closes their ports.
    fn remove_slaves(&mut self, ids: &[SlaveId]) {
        for &id in ids {
            self.states.set(id, false);
        }
        let removed: Vec<_> = ids
            .iter()
            .map(|&id| self.slaves[usize::from(id)].take())
            .collect();
        self.publish();
        for (&id, conf) in ids.iter().zip(removed) {
            // Back in place for close_slave to take out with the port.
            self.slaves[usize::from(id)] = conf;
            self.close_slave(id);
        }
    }

    /// Opens each slave of `fresh` in a vacant place, waits for the lcores to have their
    /// queues, and brings them up (a vhost slave's link comes up when its guest attaches).
    /// Stops at the first that fails to open; those opened before it stay (named in `added`).
    fn add_slaves(
        &mut self,
        eal: &Eal,
        fresh: &[SlaveConf],
        added: &mut Vec<String>,
    ) -> Result<(), SwitchError> {
        let mut opened = Vec::new();
        let mut result = Ok(());
        for conf in fresh {
            let place = self
                .slaves
                .iter()
                .position(Option::is_none)
                .expect("room was checked");
            let id = place as SlaveId;
            if let Err(e) = self.open_slave(eal, id, conf) {
                result = Err(e);
                break;
            }
            opened.push((id, conf));
            added.push(conf.name.clone());
        }
        self.lcores_caught_up();
        for (id, conf) in opened {
            if !matches!(conf.port.backing, conf::Backing::Vhost(_)) {
                self.states.set_link(id, true);
            }
            self.states.set(id, true);
        }
        result
    }
}

/// The same addresses, multicast settings and filters (what the tables hold of a slave).
fn same_dispatch(a: &SlaveConf, b: &SlaveConf) -> bool {
    (&a.addresses, &a.multicast, a.allmulti, &a.ingress, &a.egress)
        == (&b.addresses, &b.multicast, b.allmulti, &b.ingress, &b.egress)
}
