//! The fragment-molecule learner's update, phase by phase: batch preparation (distinct states and
//! their parents, loss indices), graph encoding, the block-graph forward pass, the loss, and
//! backward + Adam, on batches of trajectories sampled by an untrained policy with the paper's
//! exploration (ε = 0.05, early stop 0.1) over the paper's 105 blocks. Prints one JSON line per
//! measurement (network width and rounds, batch, intra-op threads, milliseconds per phase,
//! updates/s and molecules/s, forward+backward GFLOP/s estimated by the autograd profiler-free
//! count of the linear layers).
//!
//! `source scripts/libtorch.sh && cargo bench -p gfn-common --bench fragment_learner`; pick
//! cases with `GFN_BENCH_CASES="128x3:4,16 256x10:4"` (width×rounds:batches) and
//! `GFN_BENCH_THREADS="1 2"`; `GFN_SHARED_DATA` locates the blocks. `GFN_BENCH_OBJECTIVE=tb`
//! measures trajectory balance (uniform backward policy, a learned log Z) instead of flow
//! matching: the states of the trajectories only, no parents.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::SeedableRng;

use gfn_common::config::{MessagePassing, PolicyConfig};
use gfn_common::env::fragments::FragmentLimits;
use gfn_common::env::{Environment, FragmentEnvironment};
use gfn_common::objective::balance::{self, BalanceBatch};
use gfn_common::objective::{BackwardPolicy, Balance, BalanceObjective, FlowMatching, FlowMatchingBatch};
use gfn_common::optim::{Adam, AdamConfig};
use gfn_common::policy::{Exploration, LogFlowNetwork, PolicyNetwork};
use gfn_common::sampler::Sampler;
use gfn_common::trajectory::{RebuiltTrajectory, Trajectory, rebuild};

fn shared_data() -> PathBuf {
    std::env::var("GFN_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// `[g]width×rounds:b1,b2 …` (a leading `g`: the paper's GRU core, else the residual one)
fn cases() -> Vec<(MessagePassing, usize, usize, Vec<usize>)> {
    let spec = std::env::var("GFN_BENCH_CASES").unwrap_or_else(|_| "128x3:4,16,64 256x10:4,16".into());
    spec.split_whitespace()
        .map(|case| {
            let (network, batches) = case.split_once(':').expect("width×rounds:batches");
            let (core, network) = match network.strip_prefix('g') {
                Some(rest) => (MessagePassing::Gru, rest),
                None => (MessagePassing::Residual, network),
            };
            let (width, rounds) = network.split_once('x').expect("width×rounds");
            let batches = batches.split(',').map(|b| b.parse().unwrap()).collect();
            (core, width.parse().unwrap(), rounds.parse().unwrap(), batches)
        })
        .collect()
}

/// A batch prepared for the measured objective.
enum Prepared<S> {
    FlowMatching(FlowMatchingBatch<S>),
    Balance(BalanceBatch<S>),
}

impl<S> Prepared<S> {
    /// The distinct states the loss evaluates.
    fn states(&self) -> &[S] {
        match self {
            Self::FlowMatching(batch) => &batch.states,
            Self::Balance(batch) => &batch.states,
        }
    }
}

#[derive(Default)]
struct Phases {
    prepare: Duration,
    encode: Duration,
    forward: Duration,
    loss: Duration,
    backward: Duration,
    states: usize,
    nodes: usize,
    edges: usize,
    stems: usize,
}

/// Multiply–adds of one forward pass of the block-graph network's dense layers (gathers,
/// scatters and element-wise work excluded): the message-passing core, the stem head (each
/// stem: `3h → h → B`) and the stop head (each graph: `h → h → 1`).
fn forward_macs(
    core: MessagePassing,
    h: usize,
    rounds: usize,
    blocks: usize,
    p: &Phases,
    graphs: usize,
) -> f64 {
    let (h, n, e) = (h as f64, p.nodes as f64, p.edges as f64);
    let core = match core {
        // per round: a message 2h → h per directed edge, an update 2h → h per node
        MessagePassing::Residual => rounds as f64 * (e * 2.0 * h * h + n * 2.0 * h * h),
        // block MLP (2 h×h), then per step: root h×h, GRU 6 h×h per node (messages are dot products)
        MessagePassing::Gru => n * 2.0 * h * h + rounds as f64 * (n * 7.0 * h * h + e * 2.0 * h),
    };
    let stems = p.stems as f64 * (3.0 * h * h + h * blocks as f64);
    let stop = graphs as f64 * (h * h + h);
    core + stems + stop
}

fn main() {
    // as the gfn binaries do; GFN_BENCH_DEFAULT_MALLOC=1 measures glibc's defaults instead
    if std::env::var_os("GFN_BENCH_DEFAULT_MALLOC").is_none() {
        gfn_common::heap::keep_freed_memory();
    }
    let env = FragmentEnvironment::load(
        &shared_data().join("fragments/blocks_PDB_105.json"),
        FragmentLimits { min_blocks: 2, max_blocks: 8 },
    )
    .expect("the 105 blocks (GFN_SHARED_DATA)");
    let threads: Vec<i32> = std::env::var("GFN_BENCH_THREADS")
        .unwrap_or_else(|_| "1 2".into())
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    // `float32` and/or `float64` (training.precision)
    let precisions: Vec<String> = std::env::var("GFN_BENCH_PRECISION")
        .unwrap_or_else(|_| "float32".into())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let seconds: f64 = std::env::var("GFN_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let objective = FlowMatching { leaf_weight: 10.0, ..FlowMatching::with_epsilon(2.5e-5) };
    let trajectory_balance = match std::env::var("GFN_BENCH_OBJECTIVE").as_deref() {
        Ok("tb") => Some(BalanceObjective::new(Balance::Trajectory, BackwardPolicy::Uniform)),
        Ok("fm") | Err(_) => None,
        Ok(other) => panic!("GFN_BENCH_OBJECTIVE: {other} is not fm or tb"),
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l[l.find(':').unwrap() + 2..].to_string())
        })
        .unwrap_or_default();
    for (message_passing, width, rounds, batches) in cases() {
        for &batch in &batches {
            for (&thread_count, precision) in
                threads.iter().flat_map(|t| precisions.iter().map(move |p| (t, p)))
            {
                tch::set_num_threads(thread_count);
                tch::manual_seed(0);
                let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
                let policy = PolicyConfig::block_graph(width, rounds, message_passing);
                let network = PolicyNetwork::new(&vs.root(), &env, &policy, 0);
                let log_z =
                    trajectory_balance.map(|_| vs.root().var("log_z", &[1], tch::nn::Init::Const(0.0)));
                vs.set_kind(match precision.as_str() {
                    "float32" => tch::Kind::Float,
                    "float64" => tch::Kind::Double,
                    other => panic!("GFN_BENCH_PRECISION: {other} is not float32 or float64"),
                });
                let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(5e-4));
                let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
                let mut sampler =
                    Sampler::new(&env, Exploration { temperature: 1.0, epsilon: 0.05 }).with_early_stop(0.1);
                // a pool of batches sampled once, cycled through
                let pool: Vec<Vec<RebuiltTrajectory<_>>> = (0..8)
                    .map(|_| {
                        sampler
                            .sample(&network, batch, &mut rng)
                            .into_iter()
                            .map(|t| {
                                let trajectory =
                                    Trajectory { actions: t.actions, log_reward: -3.0, ..Default::default() };
                                rebuild(&env, &trajectory).unwrap()
                            })
                            .collect()
                    })
                    .collect();
                let mut phases = Phases::default();
                let mut updates = 0usize;
                let started = Instant::now();
                let mut warm = false;
                loop {
                    let trajectories = &pool[updates % pool.len()];
                    let t0 = Instant::now();
                    let prepared = match trajectory_balance {
                        Some(_) => Prepared::Balance(balance::prepare(&env, trajectories)),
                        None => Prepared::FlowMatching(objective.prepare(&env, trajectories)),
                    };
                    let t1 = Instant::now();
                    let states: Vec<_> = prepared.states().iter().collect();
                    let input = env.encode_batch(&states, tch::Device::Cpu);
                    let t2 = Instant::now();
                    let outputs = match prepared {
                        Prepared::Balance(_) => network.outputs(&input),
                        Prepared::FlowMatching(_) => network.log_flows(&input),
                    };
                    let t3 = Instant::now();
                    let loss = match &prepared {
                        Prepared::Balance(batch) => trajectory_balance
                            .expect("prepared for trajectory balance")
                            .loss(&outputs, batch, log_z.as_ref()),
                        Prepared::FlowMatching(batch) => objective.loss(&outputs, batch),
                    };
                    let t4 = Instant::now();
                    adam.backward_step(&loss);
                    let _ = loss.double_value(&[]);
                    let t5 = Instant::now();
                    if !warm {
                        if updates == 2 {
                            warm = true;
                            phases = Phases::default();
                            updates = 0;
                        } else {
                            updates += 1;
                        }
                        continue;
                    }
                    phases.prepare += t1 - t0;
                    phases.encode += t2 - t1;
                    phases.forward += t3 - t2;
                    phases.loss += t4 - t3;
                    phases.backward += t5 - t4;
                    phases.states += states.len();
                    if let gfn_common::policy::NetworkInput::BlockGraph(graphs) = &input {
                        phases.nodes += graphs.node_types.size()[0] as usize;
                        phases.edges += graphs.edge_source.size()[0] as usize;
                        phases.stems += graphs.stem_node.size()[0] as usize;
                    }
                    updates += 1;
                    if started.elapsed().as_secs_f64() > seconds && updates >= 5 {
                        break;
                    }
                }
                let n = updates as f64;
                let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
                let total = phases.prepare + phases.encode + phases.forward + phases.loss + phases.backward;
                let per_update = total.as_secs_f64() / n;
                // forward + backward ≈ 3 × the forward's 2 FLOPs per multiply–add
                let macs =
                    forward_macs(message_passing, width, rounds, env.num_blocks(), &phases, phases.states);
                let training_gflop = 6.0 * macs / n / 1e9;
                println!(
                    "{}",
                    serde_json::json!({
                        "bench": "fragment_learner_update",
                        "objective": if trajectory_balance.is_some() { "trajectory_balance" } else { "flow_matching" },
                        "cpu": cpu,
                        "message_passing": format!("{message_passing:?}").to_lowercase(),
                        "hidden": width,
                        "rounds": rounds,
                        "batch": batch,
                        "threads": thread_count,
                        "precision": precision,
                        "updates": updates,
                        "states_per_update": phases.states as f64 / n,
                        "nodes_per_update": phases.nodes as f64 / n,
                        "ms_prepare": ms(phases.prepare),
                        "ms_encode": ms(phases.encode),
                        "ms_forward": ms(phases.forward),
                        "ms_loss": ms(phases.loss),
                        "ms_backward_adam": ms(phases.backward),
                        "ms_update": per_update * 1e3,
                        "updates_per_s": 1.0 / per_update,
                        "molecules_per_s": batch as f64 / per_update,
                        "gflop_per_update": training_gflop,
                        "gflops": training_gflop / per_update,
                        "gflops_forward": 2.0 * macs / n / 1e9 / (phases.forward.as_secs_f64() / n),
                    })
                );
            }
        }
    }
}
