//! `ipvlan-switch ctl`: one request to a running switch, its answer printed as a table (or
//! as the JSON line it came in with `--json`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use conf::ctl::{Add, Capture, CtlArgs, CtlCommand, Del, NewSlave, Set, Show, State, Stats};
use serde_json::{json, Map, Value};

use crate::protocol::Request;
use crate::render;

/// How long the client waits for an answer (a change waits for every lcore to pass a round).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the request `args` gives to the switch at `socket`; returns what to print, or the
/// switch's refusal.
pub fn run(args: &CtlArgs, socket: &Path) -> Result<String, String> {
    let request = request_of(&args.command);
    let answer = exchange(socket, &request)?;
    if answer["ok"].as_bool() != Some(true) {
        return Err(answer["error"]
            .as_str()
            .unwrap_or("the switch refused without saying why")
            .to_string());
    }
    if args.json {
        return Ok(format!("{answer}\n"));
    }
    let result = &answer["result"];
    Ok(match request {
        Request::ShowPorts => render::ports_table(result),
        Request::ShowAddresses => render::addresses_table(result),
        Request::ShowNeighbours => render::neighbours_table(result),
        Request::ShowRoutes => render::routes_table(result),
        Request::ShowFilters => render::filters_table(result),
        Request::ShowStats { .. } => render::stats_table(result),
        Request::SetPort { name, up } => {
            let was = if result["was_up"].as_bool() == Some(true) {
                "up"
            } else {
                "down"
            };
            format!("{name}: {was} -> {}\n", if up { "up" } else { "down" })
        }
        Request::StatsClear => "counters cleared\n".to_string(),
        Request::CaptureStart { port } => {
            format!("capturing {port}: {}\n", result["dumpcap"].as_str().unwrap_or(""))
        }
        Request::CaptureStop => match result["port"].as_str() {
            Some(port) => format!("capture of {port} stopped\n"),
            None => "no capture was running\n".to_string(),
        },
        _ => render::applied(result),
    })
}

/// One request line out, one answer line back.
pub fn exchange(socket: &Path, request: &Request) -> Result<Value, String> {
    let at = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        format!("no switch answers on {at} ({e}): is it running, and is this its socket? (--socket PATH)")
    })?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_string(request).expect("a request serializes");
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("writing to {at}: {e}"))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| format!("reading the answer from {at}: {e}"))?;
    serde_json::from_str(&answer).map_err(|e| format!("the answer from {at} is not JSON ({e}): {answer:?}"))
}

fn request_of(command: &CtlCommand) -> Request {
    match command {
        CtlCommand::Show { what: Show::Ports } => Request::ShowPorts,
        CtlCommand::Show {
            what: Show::Addresses,
        } => Request::ShowAddresses,
        CtlCommand::Show {
            what: Show::Neighbours,
        } => Request::ShowNeighbours,
        CtlCommand::Show { what: Show::Routes } => Request::ShowRoutes,
        CtlCommand::Show { what: Show::Filters } => Request::ShowFilters,
        CtlCommand::Show {
            what: Show::Stats { port },
        } => Request::ShowStats { port: port.clone() },
        CtlCommand::Add {
            what: Add::Slave(slave),
        } => Request::AddSlave {
            slave: slave_table(slave),
        },
        CtlCommand::Add {
            what: Add::Address { slave, address },
        } => Request::AddAddress {
            slave: slave.clone(),
            address: address.clone(),
        },
        CtlCommand::Del {
            what: Del::Slave { name },
        } => Request::DelSlave { name: name.clone() },
        CtlCommand::Del {
            what: Del::Address { slave, address },
        } => Request::DelAddress {
            slave: slave.clone(),
            address: address.clone(),
        },
        CtlCommand::Set {
            what: Set::Port { name, state },
        } => Request::SetPort {
            name: name.clone(),
            up: *state == State::Up,
        },
        CtlCommand::Reload => Request::Reload,
        CtlCommand::Stats { what: Stats::Clear } => Request::StatsClear,
        CtlCommand::Capture {
            what: Capture::Start { port },
        } => Request::CaptureStart { port: port.clone() },
        CtlCommand::Capture { what: Capture::Stop } => Request::CaptureStop,
    }
}

/// The `[[slave]]` table the options describe (keys as in the configuration file).
fn slave_table(slave: &NewSlave) -> Map<String, Value> {
    let mut table = Map::new();
    table.insert("name".into(), json!(slave.name));
    if let Some(ring) = &slave.ring {
        table.insert("ring".into(), json!(ring));
    }
    if let Some(device) = &slave.device {
        table.insert("device".into(), json!(device));
    }
    if let Some(socket) = &slave.vhost {
        let mut vhost = Map::new();
        vhost.insert("socket".into(), json!(socket.display().to_string()));
        vhost.insert("client".into(), json!(slave.client));
        if let Some(queues) = slave.queues {
            vhost.insert("queues".into(), json!(queues));
        }
        table.insert("vhost".into(), Value::Object(vhost));
    }
    table.insert("addresses".into(), json!(slave.addresses));
    table.insert("multicast".into(), json!(slave.multicast));
    table.insert("allmulti".into(), json!(slave.allmulti));
    if let Some(mtu) = slave.mtu {
        table.insert("mtu".into(), json!(mtu));
    }
    table
}
