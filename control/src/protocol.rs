//! The wire protocol: each request is one JSON object on one line, each answer one JSON
//! object on one line, `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The longest request line the switch reads; a longer one is refused and its connection closed.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What a client asks, by its `command` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    ShowPorts,
    ShowAddresses,
    /// Mode l3: the configured and resolved neighbours.
    ShowNeighbours,
    /// Mode l3: the routes.
    ShowRoutes,
    /// Mode l3s: every slave's filtering rules with their hits.
    ShowFilters,
    /// Every port's counters, or one port's; and each lcore's cycles.
    ShowStats {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
    },
    /// `slave`: a `[[slave]]` table of the configuration file, as JSON.
    AddSlave {
        slave: Map<String, Value>,
    },
    DelSlave {
        name: String,
    },
    AddAddress {
        slave: String,
        address: String,
    },
    DelAddress {
        slave: String,
        address: String,
    },
    SetPort {
        name: String,
        up: bool,
    },
    Reload,
    StatsClear,
    /// Copies of one port's frames to a device `dpdk-dumpcap` reads.
    CaptureStart {
        port: String,
    },
    CaptureStop,
}

/// A successful answer.
pub fn answer(result: Value) -> Value {
    json!({ "ok": true, "result": result })
}

/// A refusal: nothing was changed.
pub fn refusal(error: impl ToString) -> Value {
    json!({ "ok": false, "error": error.to_string() })
}
