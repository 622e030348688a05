//! Network namespaces a test creates (and deletes on drop), with an interface moved in.

use std::process::Command;

pub struct Netns(String);

impl Netns {
    pub fn new(name: String) -> Netns {
        run("ip", &["netns", "add", &name]);
        Netns(name)
    }

    /// Moves a host interface into this namespace and gives it `mac` and `addresses`. IPv6 is
    /// on only if an address is IPv6 (then without duplicate address detection, so that the
    /// address is usable at once).
    pub fn adopt(&self, iface: &str, mac: &str, addresses: &[&str]) {
        run("ip", &["link", "set", "dev", iface, "netns", &self.0]);
        self.exec(&["ip", "link", "set", "dev", iface, "address", mac]);
        let ipv6 = addresses.iter().any(|a| a.contains(':'));
        self.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{iface}.disable_ipv6={}", u8::from(!ipv6)),
        ]);
        self.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{iface}.accept_dad=0")]);
        for addr in addresses {
            self.exec(&["ip", "addr", "add", addr, "dev", iface]);
        }
        self.exec(&["ip", "link", "set", "dev", iface, "up"]);
        self.exec(&["ip", "link", "set", "dev", "lo", "up"]);
    }

    /// A command to run in this namespace.
    pub fn command(&self, cmd: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0]).args(cmd);
        command
    }

    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        let what = format!("{cmd:?} in {}", self.0);
        super::output_ok(&mut self.command(cmd), &what)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd).args(args).status().expect(cmd);
    assert!(status.success(), "{cmd} {args:?} failed");
}
