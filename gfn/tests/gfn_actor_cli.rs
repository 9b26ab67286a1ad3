//! The `gfn-actor` binary on its own: help text, and a clean exit on SIGTERM while it is still
//! waiting for a learner that is not there.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn help_explains_the_learner_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_gfn-actor")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--learner") && help.contains("back-off"), "{help}");
}

#[test]
fn sigterm_while_waiting_for_the_learner_exits_zero() {
    // Nothing listens on this port: the actor keeps retrying with back-off.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gfn-actor"))
        .args(["--learner", &address])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal only once the actor is in its retry loop: its second "retrying" line comes after a
    // back-off sleep, during which the runtime has installed the signal handlers (a fixed delay
    // raced with the start-up of a loaded machine and killed the actor before they existed).
    let retries = retry_lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        retries.recv_timeout(left).expect("the actor never reported waiting for the learner");
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the actor ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

/// Reads the actor's log on a thread (so that the pipe never fills) and sends one message per
/// line that reports a retry towards the learner.
fn retry_lines(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<()> {
    use std::io::BufRead;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("learner not reachable, retrying") {
                let _ = sender.send(());
            }
        }
    });
    receiver
}
