//! Hosts with their own addresses for network-fault tests: network namespaces on a bridge,
//! each joined by a veth pair whose root-side end can be set down — a silent partition (no FIN,
//! no RST: packets simply stop). The test process reaches every host through the bridge's own
//! address. Needs root (CI runs as root); a test that cannot create them fails, it never skips.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A bridge with namespaces on it, removed on drop.
pub struct Network {
    bridge: String,
    prefix: String,
    subnet: u32,
    hosts: Vec<String>,
}

/// One namespace on the network.
#[derive(Clone, Debug)]
pub struct Host {
    /// The namespace's name (for `ip netns exec`).
    pub namespace: String,
    /// The root-side end of its veth pair (set down to partition the host).
    pub link: String,
    /// Its address.
    pub address: String,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).stdout(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("`ip {}` could not run ({e}): network-fault tests need iproute2 and root", args.join(" "))
    });
    assert!(
        output.status.success(),
        "`ip {}` failed: {} (network-fault tests need root to create namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Network {
    /// A fresh bridge with an address for the test process.
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = (std::process::id() % 200) * 4 + n;
        let prefix = format!("g{}", id);
        let subnet = 10 + (id % 240);
        let bridge = format!("{prefix}br");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let network = Self { bridge: bridge.clone(), prefix, subnet, hosts: Vec::new() };
        ip(&["addr", "add", &format!("10.231.{subnet}.254/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        network
    }

    /// Adds a host (namespace) with the next address.
    pub fn host(&mut self, name: &str) -> Host {
        let index = self.hosts.len() + 1;
        let namespace = format!("{}{name}", self.prefix);
        let link = format!("{}v{index}", self.prefix);
        let address = format!("10.231.{}.{index}", self.subnet);
        ip(&["netns", "add", &namespace]);
        self.hosts.push(namespace.clone());
        ip(&["link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &namespace]);
        ip(&["link", "set", &link, "master", &self.bridge, "up"]);
        ip(&["-n", &namespace, "addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        ip(&["-n", &namespace, "link", "set", "eth0", "up"]);
        ip(&["-n", &namespace, "link", "set", "lo", "up"]);
        Host { namespace, link, address }
    }
}

impl Host {
    /// `program args…` inside this host's namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespace]).arg(program);
        command
    }

    /// `gfn-learner --config config` on this host: gRPC on port 50051, metrics on 9100.
    pub fn learner(&self, config: &std::path::Path) -> super::LearnerProcess {
        let mut command = self.command(&super::binary("gfn-learner"));
        let (grpc, metrics) = (format!("{}:50051", self.address), format!("{}:9100", self.address));
        command.arg("--config").arg(config).args(["--listen", &grpc, "--metrics-listen", &metrics]);
        super::LearnerProcess::spawn(command)
    }

    /// `gfn-actor` on this host for the learner at `learner`, serving its metrics on
    /// `metrics_port` if given; more arguments or environment may be added before spawning.
    pub fn actor(&self, learner: &str, name: &str, metrics_port: Option<u16>) -> Command {
        let mut command = self.command(&super::binary("gfn-actor"));
        command.args(["--learner", learner, "--name", name]);
        if let Some(port) = metrics_port {
            command.arg("--metrics-listen").arg(format!("{}:{port}", self.address));
        }
        command
    }

    /// Cuts the host off silently (its link down: packets are dropped, nobody is told).
    pub fn partition(&self) {
        ip(&["link", "set", &self.link, "down"]);
    }

    /// Joins it again.
    pub fn heal(&self) {
        ip(&["link", "set", &self.link, "up"]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", namespace]).output();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
    }
}
