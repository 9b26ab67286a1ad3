//! `gfn launch`: one learner and N actors as separate processes on loopback, one progress
//! view, signals forwarded, clean exit.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use gfn_common::events::{Event, Follower};

use gfn_common::task::Tasks;

use crate::cli::{ConfigArgs, config_failure};

/// Arguments of `gfn launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The run configuration (passed on to the learner).
    #[command(flatten)]
    pub run: ConfigArgs,
    /// Number of actor processes.
    #[arg(long, default_value_t = 2)]
    pub actors: usize,
    /// Override `training.updates`.
    #[arg(long, conflicts_with = "trajectories")]
    pub updates: Option<u64>,
    /// Run to a budget of this many trajectories (generated objects) trained on instead: sets
    /// `training.updates` to ⌈N / training.batch_size⌉.
    #[arg(long, alias = "molecules")]
    pub trajectories: Option<u64>,
    /// Override `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override `checkpoint.dir` (the learner resumes from it).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Override `evaluation.log_path` (JSON lines).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Override `learner.metrics_listen` ("" disables it).
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// No progress bar (evaluation lines are still printed).
    #[arg(long)]
    pub no_progress: bool,
    /// Keep the learner's machine-readable events (JSON lines) here; by default they go to a
    /// temporary file that is removed at the end.
    #[arg(long)]
    pub events: Option<PathBuf>,
}

/// Runs `gfn launch`: the learner and the actors are this same program (`learner` and `actor`
/// subcommands), so they have the same tasks (`tasks`, checked here before any start).
pub fn run(args: LaunchArgs, tasks: impl Tasks) -> anyhow::Result<ExitCode> {
    let mut config = match args.run.load() {
        Ok(config) => config,
        Err(error) => return Ok(config_failure(&error)),
    };
    if let Some(updates) = args.updates {
        config.training.updates = updates;
    }
    if let Some(trajectories) = args.trajectories {
        config.training.updates = trajectories.div_ceil(config.training.batch_size as u64);
    }
    if let Err(error) = tasks.validate(&config) {
        return Ok(config_failure(&error));
    }
    if args.actors == 0 {
        bail!("--actors must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(launch(args, config.training.updates, config.security.token_file.clone()))
}

/// This program: its `learner` and `actor` subcommands are the processes launched.
fn this_program(subcommand: &str) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe().context("finding this program")?);
    command.arg(subcommand);
    Ok(command)
}

fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
}

/// SIGTERM to every actor, then waits (10 s at most, then SIGKILL): actors flush what they have
/// in flight to the learner, so they go first.
async fn stop_actors(actors: &mut [Child]) {
    for actor in actors.iter() {
        terminate(actor);
    }
    for actor in actors.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), actor.wait()).await.is_err() {
            let _ = actor.kill().await;
        }
    }
}

/// On Ctrl-C or SIGTERM: the actors first (while the learner can still take their last
/// trajectories), then the learner, which checkpoints and exits.
async fn stop_all(actors: &mut [Child], learner: &Child) {
    stop_actors(actors).await;
    terminate(learner);
}

async fn launch(args: LaunchArgs, updates: u64, token_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut learner_command = this_program("learner")?;
    learner_command.args(["--listen", "127.0.0.1:0"]);
    if let Some(config) = &args.run.config {
        learner_command.arg("--config").arg(config);
    }
    for assignment in &args.run.set {
        learner_command.arg("--set").arg(assignment);
    }
    if args.updates.is_some() || args.trajectories.is_some() {
        learner_command.args(["--updates", &updates.to_string()]);
    }
    if let Some(seed) = args.seed {
        learner_command.args(["--seed", &seed.to_string()]);
    }
    if let Some(dir) = &args.checkpoint_dir {
        learner_command.arg("--checkpoint-dir").arg(dir);
    }
    if let Some(log) = &args.log {
        learner_command.arg("--log").arg(log);
    }
    if let Some(listen) = &args.metrics_listen {
        learner_command.args(["--metrics-listen", listen]);
    }
    let events_path = match &args.events {
        Some(path) => path.clone(),
        None => std::env::temp_dir().join(format!("gfn-launch-{}.events.jsonl", std::process::id())),
    };
    if args.events.is_none() {
        let _ = std::fs::remove_file(&events_path);
    }
    learner_command.arg("--events").arg(&events_path);
    let mut learner =
        learner_command.stdout(Stdio::piped()).kill_on_drop(true).spawn().context("starting the learner")?;
    let mut lines = BufReader::new(learner.stdout.take().expect("piped")).lines();

    let bar = if args.no_progress { ProgressBar::hidden() } else { ProgressBar::new(updates) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} updates {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    // Coordination reads the learner's events, never its log text (which is relayed for people).
    let mut events = Follower::new(&events_path);
    let relay = tokio::spawn({
        let bar = bar.clone();
        async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if bar.is_hidden() {
                    println!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }
    });
    let address = loop {
        if let Some(address) = events.poll().into_iter().find_map(|timed| match timed.event {
            Event::Listening { address, .. } => Some(address),
            _ => None,
        }) {
            break address;
        }
        if let Some(status) = learner.try_wait()? {
            bail!("the learner exited before listening ({status})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut actors = Vec::with_capacity(args.actors);
    for i in 0..args.actors {
        let mut actor = this_program("actor")?;
        actor.args(["--learner", &address, "--name", &format!("actor-{i}")]);
        // the run token reaches the actors through the same file, or GFN_RUN_TOKEN (inherited)
        if let Some(file) = &token_file {
            actor.arg("--token-file").arg(file);
        }
        let actor = actor.stdout(Stdio::null()).kill_on_drop(true).spawn().context("starting an actor")?;
        actors.push(actor);
    }
    let (mut terminate_signal, mut interrupt_signal) =
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    let mut status = None;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    while status.is_none() {
        tokio::select! {
            exited = learner.wait() => status = Some(exited?),
            _ = poll.tick() => {
                for timed in events.poll() {
                    if let Event::Evaluation { record, .. } = timed.event {
                        if let Some(update) = record["update"].as_u64() {
                            bar.set_position(update);
                        }
                        if let Some(l1) = record["exact_l1"].as_f64() {
                            bar.set_message(format!("exact L1 {l1:.4}"));
                        } else if let Some(loss) = record["loss"].as_f64() {
                            bar.set_message(format!("loss {loss:.4}"));
                        }
                    }
                }
            }
            _ = terminate_signal.recv() => stop_all(&mut actors, &learner).await,
            _ = interrupt_signal.recv() => stop_all(&mut actors, &learner).await,
        }
    }
    let _ = relay.await;
    bar.finish_and_clear();
    stop_actors(&mut actors).await;
    let status = status.expect("learner finished");
    if args.events.is_none() {
        let _ = std::fs::remove_file(&events_path);
    }
    println!("gfn launch: learner exited with {status}; {} actors stopped", actors.len());
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
