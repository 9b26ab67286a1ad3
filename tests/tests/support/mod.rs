//! Real processes for end-to-end tests: `gfn-learner` and `gfn-actor` binaries on loopback,
//! followed through their machine-readable events (`--events`, `gfn_common::events`; their
//! human output is collected for failure messages only), and the learner's `/metrics` scraped
//! over HTTP.
#![allow(dead_code)]

pub mod data;
pub mod fragments;
pub mod netns;
pub mod python;
pub mod tls;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use gfn_common::events::Event;

/// A binary of the workspace, built next to the test executable's directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --release)",
        path.display()
    );
    path
}

/// A child process whose stdout lines are collected in the background.
pub struct Process {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    /// The `--events` file, in a folder removed with the process.
    events: Option<(tempfile::TempDir, PathBuf)>,
}

impl Process {
    /// Starts `command`, collecting its stdout lines (stderr goes to the test's output).
    pub fn spawn(mut command: Command) -> Self {
        // Warnings and errors reach the test's output; routine logs do not.
        command.env("RUST_LOG", "warn");
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("process starts");
        let stdout = child.stdout.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines, events: None }
    }

    /// Starts `command --events FILE` (a fresh file), collecting its stdout lines too.
    pub fn spawn_with_events(mut command: Command) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        command.arg("--events").arg(&path);
        let mut process = Self::spawn(command);
        process.events = Some((dir, path));
        process
    }

    /// The events written so far.
    pub fn events(&self) -> Vec<Event> {
        let (_, path) = self.events.as_ref().expect("started with spawn_with_events");
        gfn_common::events::read(path).into_iter().map(|timed| timed.event).collect()
    }

    /// Waits until an event satisfies `find` and returns what it extracts.
    pub fn wait_for_event<T>(&mut self, timeout: Duration, find: impl Fn(&Event) -> Option<T>) -> T {
        self.poll_until(timeout, "event", |process| process.events().iter().find_map(&find))
    }

    /// Waits until a line satisfies `find` and returns what it extracts.
    pub fn wait_for<T>(&mut self, timeout: Duration, find: impl Fn(&str) -> Option<T>) -> T {
        self.poll_until(timeout, "line", |process| process.output().iter().find_map(|l| find(l)))
    }

    /// Polls `probe` every 20 ms until it finds something, the process exits (one last probe
    /// after its output settles) or `timeout` passes.
    fn poll_until<T>(&mut self, timeout: Duration, what: &str, probe: impl Fn(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(found) = probe(self) {
                    return found;
                }
                panic!("process exited ({status}) before the awaited {what}: {:?}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for a {what}; output so far: {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// All lines so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for exit, killing the process after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("process did not exit within {timeout:?}; output: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running learner with its addresses.
pub struct LearnerProcess {
    pub process: Process,
    pub address: String,
    pub metrics: String,
}

impl LearnerProcess {
    /// Starts `gfn-learner --config <config> --listen <listen> --metrics-listen 127.0.0.1:0 <extra>`.
    pub fn start(config: &Path, listen: &str, extra: &[&str]) -> Self {
        let mut command = Command::new(binary("gfn-learner"));
        command.arg("--config").arg(config).args(["--listen", listen, "--metrics-listen", "127.0.0.1:0"]);
        command.args(extra);
        Self::spawn(command)
    }

    /// Starts `command` (a `gfn-learner` with `--listen` and `--metrics-listen`) and waits for
    /// both addresses.
    pub fn spawn(command: Command) -> Self {
        let mut process = Process::spawn_with_events(command);
        let address = process.wait_for_event(Duration::from_secs(30), |event| match event {
            Event::Listening { address, .. } => Some(address.clone()),
            _ => None,
        });
        let metrics = process.wait_for_event(Duration::from_secs(5), |event| match event {
            Event::Metrics { address } => Some(address.clone()),
            _ => None,
        });
        Self { process, address, metrics }
    }

    /// Scrapes `/metrics`: sample name (with labels) → value.
    pub fn scrape(&self) -> HashMap<String, f64> {
        scrape(&self.metrics)
    }

    /// A counter or gauge, 0 if absent.
    pub fn metric(&self, name: &str) -> f64 {
        self.scrape().get(name).copied().unwrap_or(0.0)
    }

    /// Exact evaluations so far (evaluation events): (update, exact L1).
    pub fn evaluations(&self) -> Vec<(u64, f64)> {
        self.process
            .events()
            .iter()
            .filter_map(|event| match event {
                Event::Evaluation { record, .. } => {
                    Some((record["update"].as_u64()?, record["exact_l1"].as_f64()?))
                }
                _ => None,
            })
            .collect()
    }

    /// The learner's `learner_finished` event, if it has finished.
    pub fn finished(&self) -> Option<Event> {
        self.process.events().into_iter().find(|e| matches!(e, Event::LearnerFinished { .. }))
    }
}

/// Starts `gfn-actor --learner <address> --name <name> --events FILE`.
pub fn start_actor(address: &str, name: &str) -> Process {
    let mut command = Command::new(binary("gfn-actor"));
    command.args(["--learner", address, "--name", name]);
    Process::spawn_with_events(command)
}

/// `GET /metrics` over a plain HTTP/1.0 connection.
pub fn scrape(address: &str) -> HashMap<String, f64> {
    let mut stream = TcpStream::connect(address).expect("metrics endpoint reachable");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Writes a run configuration for a small grid with the learner on loopback.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until `condition` holds, polling every 50 ms.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A registration request of a test client named `actor_name` (current protocol version, no
/// capabilities).
pub fn register_request(actor_name: &str) -> gfn_proto::v1::RegisterRequest {
    gfn_proto::v1::RegisterRequest {
        actor_name: actor_name.into(),
        protocol_version: gfn_proto::PROTOCOL_VERSION,
        capabilities: None,
    }
}

/// Every record of a learner's ingest journal in `dir` (`checkpoint.dir/journal`): the actor
/// instance and sequence number of each accepted trajectory, in journal order.
pub fn journal_origins(dir: &Path) -> Vec<(u64, u64)> {
    use prost::Message;
    let mut segments: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    segments.sort();
    let mut origins = Vec::new();
    for segment in segments {
        let bytes = std::fs::read(&segment).unwrap();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let Some(payload) = bytes.get(at + 8..at + 8 + len) else { break };
            let record = gfn_proto::v1::Trajectory::decode(payload).unwrap();
            origins.push((record.actor_instance, record.sequence));
            at += 8 + len;
        }
    }
    origins
}
