//! Hot paths of hypergrid training (4-D, H = 8, batch 16, 2×256 MLP, one intra-op thread):
//! sampling a batch, preparing the flow-matching batch, and a whole learner update.
//!
//! `source scripts/libtorch.sh && cargo bench -p gfn-common --bench hypergrid_training`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use tch::Device;

use gfn_common::config::PolicyConfig;
use gfn_common::env::{Environment, Hypergrid};
use gfn_common::model::Model;
use gfn_common::objective::{FlowMatching, Objective};
use gfn_common::optim::AdamConfig;
use gfn_common::policy::Exploration;
use gfn_common::reward::{HypergridReward, Reward};
use gfn_common::sampler::Sampler;
use gfn_common::trajectory::{RebuiltTrajectory, Trajectory, rebuild};

const BATCH: usize = 16;

fn setup() -> (Hypergrid, HypergridReward, Model) {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let env = Hypergrid::new(4, 8);
    let reward = HypergridReward::new(8, 0.1, 0.5, 2.0);
    let model = Model::new(
        (tch::Kind::Float, Device::Cpu),
        &env,
        &PolicyConfig::mlp(256, 2),
        AdamConfig::with_learning_rate(1e-3),
        Objective::FlowMatching(FlowMatching::with_epsilon(2.5e-5)),
        0.1,
        0.0,
    );
    (env, reward, model)
}

/// A batch like a trained policy's: 16 terminal states drawn uniformly from the grid (mean
/// trajectory length ≈ 15 actions), each reached by a random order of increments.
fn batch(env: &Hypergrid, reward: &HypergridReward) -> Vec<RebuiltTrajectory<Vec<u16>>> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0);
    (0..BATCH)
        .map(|_| {
            let terminal = env.state_at(rng.random_range(0..env.num_states()));
            let mut actions: Vec<u32> = terminal
                .iter()
                .enumerate()
                .flat_map(|(d, &c)| std::iter::repeat_n(d as u32, c as usize))
                .collect();
            actions.shuffle(&mut rng);
            actions.push(env.stop_action());
            let record = Trajectory {
                actions,
                log_reward: reward.log_reward(&terminal).unwrap(),
                ..Default::default()
            };
            rebuild(env, &record).unwrap()
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let (env, reward, mut model) = setup();
    let trajectories = batch(&env, &reward);
    let mut group = c.benchmark_group("hypergrid_4d_batch16");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    let mut sampler = Sampler::new(&env, Exploration::ON_POLICY);
    group.bench_function("sample", |b| b.iter(|| sampler.sample(model.network(), BATCH, &mut rng)));

    let objective = FlowMatching::with_epsilon(2.5e-5);
    group
        .bench_function("prepare_flow_matching_batch", |b| b.iter(|| objective.prepare(&env, &trajectories)));

    group.bench_function("learner_update", |b| b.iter(|| model.update(&env, &trajectories)));
    group.finish();
}

criterion_group!(hypergrid_training, benches);
criterion_main!(hypergrid_training);
