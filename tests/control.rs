//! The control socket of a running switch binary, through `ipvlan-switch ctl` and raw JSON
//! lines: every command, its refusals (each one line, changing nothing), the socket's mode,
//! a malformed and an oversized request, a second instance refused, reload from the file,
//! and the socket removed at exit.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

fn config(socket: &Path, extra_slave: &str) -> String {
    format!(
        r#"lcores = [1]
[control]
socket = "{}"
[phy]
ring = "phy"
mac = "02:00:00:00:00:01"
[[slave]]
name = "a"
ring = "a"
addresses = ["10.0.0.11/24", "2001:db8::11/64"]
{extra_slave}"#,
        socket.display()
    )
}

/// `ipvlan-switch ctl --socket SOCKET ARGS`: (succeeded, stdout, stderr).
fn ctl(socket: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipvlan-switch"))
        .arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// `ctl --json ARGS`, which must succeed: its result.
fn ctl_json(socket: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = ctl(socket, &all);
    assert!(ok, "ctl {args:?} failed: {err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["ok"], true);
    answer["result"].clone()
}

/// `ctl ARGS`, which must be refused: its one-line error.
fn refused(socket: &Path, args: &[&str]) -> String {
    let (ok, out, err) = ctl(socket, args);
    assert!(!ok, "ctl {args:?} succeeded: {out}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    err
}

/// Raw request lines on one connection; one answer line each.
fn raw(socket: &Path, lines: &[&[u8]]) -> Vec<Value> {
    let mut stream = UnixStream::connect(socket).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    lines
        .iter()
        .map(|line| {
            stream.write_all(line).unwrap();
            stream.write_all(b"\n").unwrap();
            let mut answer = String::new();
            reader.read_line(&mut answer).unwrap();
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
        })
        .collect()
}

fn port_names(socket: &Path) -> Vec<String> {
    let ports = ctl_json(socket, &["show", "ports"]);
    ports["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn start_binary(dir: &Path, test: &str) -> (SwitchProcess, PathBuf) {
    let socket = dir.join("ctl.sock");
    std::fs::write(dir.join("switch.toml"), config(&socket, "")).unwrap();
    let switch = SwitchProcess::spawn(switch_binary(&dir.join("switch.toml"), test));
    switch.wait_ready();
    (switch, socket)
}

#[test]
fn ctl_shows_adds_removes_and_refuses_with_one_line_errors() {
    let dir = scratch_dir("control");
    let (switch, socket) = start_binary(&dir, "control");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    // show ports: the phy and slave a, both up, polled by lcore 1.
    let ports = ctl_json(&socket, &["show", "ports"]);
    assert_eq!(
        ports["ports"][1],
        json!({"name": "a", "role": "slave", "kind": "ring", "backing": "a", "up": true, "link": true,
               "guest_queue_pairs": null, "rx_queues": 1, "lcores": [1]})
    );
    let (ok, table, _) = ctl(&socket, &["show", "ports"]);
    assert!(ok && table.lines().nth(2).unwrap().starts_with("a "), "{table}");

    // add slave: a ring slave and a device slave, then their addresses.
    let added = ctl_json(
        &socket,
        &["add", "slave", "b", "--ring", "b", "--address", "10.0.0.12/24"],
    );
    assert_eq!(added["applied"]["added"], json!(["b"]));
    ctl_json(&socket, &["add", "slave", "n", "--device", "net_null7,no-rx=1"]);
    ctl_json(&socket, &["add", "address", "n", "10.0.0.77"]);
    assert_eq!(port_names(&socket), ["phy", "a", "b", "n"]);
    let addresses = ctl_json(&socket, &["show", "addresses"]);
    assert_eq!(
        addresses["addresses"],
        json!([{"address": "10.0.0.11/24", "slave": "a"}, {"address": "2001:db8::11/64", "slave": "a"},
               {"address": "10.0.0.12/24", "slave": "b"}, {"address": "10.0.0.77/32", "slave": "n"}])
    );

    // A vhost slave: its server socket appears, it waits for a guest; removed, the socket goes.
    let guest_socket = dir.join("v.sock");
    ctl_json(
        &socket,
        &[
            "add",
            "slave",
            "v",
            "--vhost",
            guest_socket.to_str().unwrap(),
            "--address",
            "10.0.0.40",
        ],
    );
    assert!(guest_socket.exists(), "no vhost socket");
    let v = &ctl_json(&socket, &["show", "ports"])["ports"][4];
    assert_eq!(
        (&v["kind"], &v["link"], &v["guest_queue_pairs"]),
        (&json!("vhost"), &json!(false), &json!(0))
    );
    ctl_json(&socket, &["del", "slave", "v"]);
    assert!(!guest_socket.exists(), "the vhost socket is left behind");

    // Refusals: each one line, each changing nothing.
    let before = ctl_json(&socket, &["show", "addresses"]);
    let error = refused(&socket, &["add", "address", "b", "10.0.0.11"]);
    assert!(error.contains("10.0.0.11") && error.contains("\"a\""), "{error}");
    let error = refused(&socket, &["add", "address", "zz", "10.0.0.99"]);
    assert!(error.contains("no slave is called \"zz\""), "{error}");
    let error = refused(&socket, &["add", "address", "b", "10.0.0.99/33"]);
    assert!(error.contains("prefix length \"33\""), "{error}");
    let error = refused(&socket, &["add", "slave", "b", "--ring", "other"]);
    assert!(error.contains("slave name \"b\" is already used"), "{error}");
    let error = refused(&socket, &["add", "slave", "c", "--ring", "a"]);
    assert!(error.contains("ring \"a\" is already used"), "{error}");
    let error = refused(&socket, &["del", "address", "b", "10.9.9.9"]);
    assert!(error.contains("has no address 10.9.9.9"), "{error}");
    let error = refused(&socket, &["set", "port", "nobody", "down"]);
    assert!(error.contains("no slave is called \"nobody\""), "{error}");
    assert_eq!(ctl_json(&socket, &["show", "addresses"]), before);

    // set port: down and up again.
    let set = ctl_json(&socket, &["set", "port", "b", "down"]);
    assert_eq!(set, json!({"name": "b", "was_up": true, "up": false}));
    assert_eq!(ctl_json(&socket, &["show", "ports"])["ports"][2]["up"], false);
    ctl_json(&socket, &["set", "port", "b", "up"]);

    // show stats of one port, and of an unknown one; stats clear.
    let stats = ctl_json(&socket, &["show", "stats", "a"]);
    assert_eq!(
        stats["ports"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(stats["ports"]["a"]["drops"]["no_owner"], 0);
    assert_eq!(stats["lcores"][0]["lcore"], 1);
    assert!(refused(&socket, &["show", "stats", "zz"]).contains("no port is called \"zz\""));
    let (ok, out, _) = ctl(&socket, &["stats", "clear"]);
    assert!(ok && out.contains("cleared"), "{out}");

    // del: an address, then slaves.
    ctl_json(&socket, &["del", "address", "n", "10.0.0.77"]);
    let removed = ctl_json(&socket, &["del", "slave", "n"]);
    assert_eq!(removed["applied"]["removed"], json!(["n"]));
    ctl_json(&socket, &["del", "slave", "b"]);
    assert_eq!(port_names(&socket), ["phy", "a"]);

    // The raw protocol: malformed, unknown and oversized requests get an error each, and the
    // switch goes on answering.
    let answers = raw(
        &socket,
        &[
            b"{not json",
            br#"{"command": "launch-missiles"}"#,
            br#"{"command": "show-ports"}"#,
        ],
    );
    assert_eq!(answers[0]["ok"], false);
    assert!(answers[0]["error"].as_str().unwrap().starts_with("not a request"));
    assert_eq!(answers[1]["ok"], false);
    assert_eq!(answers[2]["ok"], true);
    let huge = vec![b'x'; 100_000];
    let answer = raw(&socket, &[&huge]);
    assert!(
        answer[0]["error"]
            .as_str()
            .unwrap()
            .contains("at most 65536 bytes"),
        "{answer:?}"
    );
    assert_eq!(
        raw(&socket, &[br#"{"command": "show-addresses"}"#])[0]["ok"],
        true
    );

    // A second switch on the same socket is refused before it starts DPDK.
    let second = switch_binary(&dir.join("switch.toml"), "control-second")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(stderr.contains("another ipvlan-switch listens on"), "{stderr}");
    assert!(
        socket.exists(),
        "the second instance removed the first one's socket"
    );
    // So is one with another socket and the same EAL file prefix.
    let other = dir.join("other.toml");
    std::fs::write(&other, config(&dir.join("other.sock"), "")).unwrap();
    let second = switch_binary(&other, "control").output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    let holder = format!(
        "another ipvlan-switch (pid {}) runs with EAL file prefix",
        switch.pid()
    );
    assert!(stderr.contains(&holder), "{stderr}");

    let out = switch.stop("TERM");
    assert!(out.contains("rx_packets"), "{out}");
    assert!(!socket.exists(), "the socket is left behind");
}

#[test]
fn reload_and_sighup_apply_the_file_difference_and_refuse_what_needs_a_restart() {
    let dir = scratch_dir("control-reload");
    let (switch, socket) = start_binary(&dir, "control-reload");
    let file = dir.join("switch.toml");
    std::fs::write(
        &file,
        config(
            &socket,
            "[[slave]]\nname = \"r\"\nring = \"r\"\naddresses = [\"10.0.0.50\"]\n",
        ),
    )
    .unwrap();
    let reloaded = ctl_json(&socket, &["reload"]);
    assert_eq!(
        reloaded["applied"],
        json!({"added": ["r"], "removed": [], "changed": []})
    );

    // Only the address changes: the slave stays where it is.
    std::fs::write(
        &file,
        config(
            &socket,
            "[[slave]]\nname = \"r\"\nring = \"r\"\naddresses = [\"10.0.0.51\"]\n",
        ),
    )
    .unwrap();
    let reloaded = ctl_json(&socket, &["reload"]);
    assert_eq!(
        reloaded["applied"],
        json!({"added": [], "removed": [], "changed": ["r"]})
    );

    // A mode change needs a restart: refused, nothing applied.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("flags = \"private\"\n{text}")).unwrap();
    let error = refused(&socket, &["reload"]);
    assert!(
        error.contains("`flags`") && error.contains("only a restart"),
        "{error}"
    );
    // A broken file: its error names the file and line.
    std::fs::write(&file, format!("{text}[[slave]]\nname = 5\n")).unwrap();
    let error = refused(&socket, &["reload"]);
    assert!(
        error.contains("switch.toml:") && error.contains("slave[2].name"),
        "{error}"
    );

    // SIGHUP: the file without r.
    std::fs::write(&file, config(&socket, "")).unwrap();
    output_ok(
        Command::new("kill").args(["-HUP", &switch.pid().to_string()]),
        "kill -HUP",
    );
    wait_until(
        || port_names(&socket) == ["phy", "a"],
        || format!("SIGHUP did not remove r: {:?}", port_names(&socket)),
    );
    switch.stop("INT");
}

#[test]
fn dpdk_telemetry_reads_ports_counters_and_addresses() {
    let dir = scratch_dir("control-telemetry");
    let (switch, socket) = start_binary(&dir, "control-telemetry");
    ctl_json(
        &socket,
        &[
            "add",
            "slave",
            "b-2",
            "--ring",
            "b2",
            "--address",
            "10.0.0.12/24",
            "--address",
            "10.0.0.13",
        ],
    );
    let commands = "/ipvlan/ports\n/ipvlan/port,a\n/ipvlan/stats\n/ipvlan/stats,a\n/ipvlan/addresses\n";
    let mut script = Command::new("dpdk-telemetry.py")
        .args(["-f", &file_prefix("control-telemetry")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    script
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = script.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // One JSON answer per command, after the script's own greeting.
    let answers: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let answer = |command: &str| {
        let found = answers.iter().find_map(|a| a.get(command));
        found
            .unwrap_or_else(|| panic!("no answer to {command}: {text}"))
            .clone()
    };
    assert_eq!(answer("/ipvlan/ports"), json!(["phy", "a", "b-2"]));
    let port = answer("/ipvlan/port");
    assert_eq!(
        (&port["kind"], &port["backing"], &port["up"], &port["lcores"]),
        (&json!("ring"), &json!("a"), &json!(1), &json!([1]))
    );
    let all = answer("/ipvlan/stats");
    assert_eq!(all["a"], json!([0, 0, 0, 0, 0, 0]), "{all}");
    assert_eq!(all["b_2"].as_array().map(Vec::len), Some(6), "{all}");
    let one = answers
        .iter()
        .filter_map(|a| a.get("/ipvlan/stats"))
        .nth(1)
        .unwrap();
    assert_eq!(one["rx_packets"], 0);
    assert_eq!(one["drops_no_owner"], 0);
    assert_eq!(
        answer("/ipvlan/addresses"),
        json!({"a": ["10.0.0.11/24", "2001:db8::11/64"], "b_2": ["10.0.0.12/24", "10.0.0.13/32"]})
    );
    switch.stop("INT");
}

#[test]
fn ctl_shows_mode_l3_routes_neighbours_and_l3s_filters() {
    let dir = scratch_dir("control-l3");
    let socket = dir.join("ctl.sock");
    let toml = format!(
        "mode = \"l3s\"\nlcores = [1]\n[control]\nsocket = \"{}\"\n[phy]\nring = \"phy\"\nmac = \"02:00:00:00:00:01\"\n\
         addresses = [\"10.0.0.1/24\"]\n[[route]]\nto = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\n\
         [[neighbour]]\nip = \"10.0.0.254\"\nmac = \"02:00:00:00:00:fe\"\n\
         [[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.11/24\"]\n\
         [slave.ingress]\ndefault = \"deny\"\nrules = [{{ action = \"allow\", proto = \"tcp\", to_port = 22 }}]\n",
        socket.display()
    );
    std::fs::write(dir.join("switch.toml"), toml).unwrap();
    let switch = SwitchProcess::spawn(switch_binary(&dir.join("switch.toml"), "control-l3"));
    switch.wait_ready();
    assert_eq!(
        ctl_json(&socket, &["show", "routes"])["routes"],
        json!([
            {"to": "10.0.0.1/32", "via": null, "kind": "local"},
            {"to": "10.0.0.0/24", "via": null, "kind": "connected"},
            {"to": "0.0.0.0/0", "via": "10.0.0.254", "kind": "static"}
        ])
    );
    assert_eq!(
        ctl_json(&socket, &["show", "neighbours"])["neighbours"],
        json!([{"ip": "10.0.0.254", "mac": "02:00:00:00:00:fe", "state": "static", "waiting": 0}])
    );
    let resolver = &ctl_json(&socket, &["show", "stats"])["resolver"];
    assert_eq!(
        resolver,
        &json!({"requests": 0, "learned": 0, "released": 0, "dropped": 0, "unreachable": 0})
    );
    let filters = |port: u16| {
        json!([
            {"slave": "a", "direction": "ingress", "rule": format!("allow tcp from any to any port {port}"), "hits": 0},
            {"slave": "a", "direction": "ingress", "rule": "default deny", "hits": 0}
        ])
    };
    assert_eq!(ctl_json(&socket, &["show", "filters"])["filters"], filters(22));
    let connections = &ctl_json(&socket, &["show", "stats"])["connections"];
    assert_eq!(connections, &json!({"open": 0, "capacity": 65536, "evicted": 0}));
    // A changed rule applies at once.
    let text = std::fs::read_to_string(dir.join("switch.toml")).unwrap();
    std::fs::write(
        dir.join("switch.toml"),
        text.replace("to_port = 22", "to_port = 2222"),
    )
    .unwrap();
    assert_eq!(ctl_json(&socket, &["reload"])["applied"]["changed"], json!(["a"]));
    assert_eq!(ctl_json(&socket, &["show", "filters"])["filters"], filters(2222));
    // A route added by reload applies at once.
    let text = std::fs::read_to_string(dir.join("switch.toml")).unwrap();
    std::fs::write(
        dir.join("switch.toml"),
        format!("{text}[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.0.253\"\n"),
    )
    .unwrap();
    assert_eq!(ctl_json(&socket, &["reload"])["applied"]["routes"], true);
    assert_eq!(
        ctl_json(&socket, &["show", "routes"])["routes"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    switch.stop("INT");
}
