//! Network namespaces a test creates (and deletes on drop), with an interface moved in.

use std::process::Command;

pub struct Netns(String);

impl Netns {
    pub fn new(name: String) -> Netns {
        run("ip", &["netns", "add", &name]);
        Netns(name)
    }

    /// Moves a host interface into this namespace and configures it.
    pub fn adopt(&self, iface: &str, mac: &str, addr: &str) {
        run("ip", &["link", "set", "dev", iface, "netns", &self.0]);
        self.exec(&["ip", "link", "set", "dev", iface, "address", mac]);
        self.exec(&["sysctl", "-qw", &format!("net.ipv6.conf.{iface}.disable_ipv6=1")]);
        self.exec(&["ip", "addr", "add", addr, "dev", iface]);
        self.exec(&["ip", "link", "set", "dev", iface, "up"]);
        self.exec(&["ip", "link", "set", "dev", "lo", "up"]);
    }

    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        let what = format!("{cmd:?} in {}", self.0);
        super::output_ok(
            Command::new("ip").args(["netns", "exec", &self.0]).args(cmd),
            &what,
        )
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
