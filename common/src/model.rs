//! The learning side of training: a policy network, its optimizer and an objective (flow
//! matching, trajectory, detailed or sub-trajectory balance, picked by the run configuration).
//! It takes rebuilt trajectories and applies one update per batch; it never samples.

use tch::{Device, Kind, Tensor, nn};

use crate::averaging::WeightAverage;
use crate::checkpoint::NamedTensors;
use crate::config::{PolicyConfig, RunConfig};
use crate::env::Environment;
use crate::objective::{Objective, balance};
use crate::optim::{Adam, AdamConfig};
use crate::policy::{LogFlowNetwork, PolicyNetwork};
use crate::trajectory::RebuiltTrajectory;
use crate::weights::LoadError;

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The loss before the update.
    pub loss: f64,
    /// Distinct states evaluated by the network (one forward and one backward pass each).
    pub states_evaluated: usize,
    /// Whether the update was applied; `false` when the loss or a gradient was NaN or
    /// infinite: the weights, their average and the optimizer keep their last good values.
    pub applied: bool,
}

/// The trained model: the policy network (and trajectory balance's `log Z`), Adam and an objective,
/// optionally with a Polyak average of the weights that is the policy it hands out.
pub struct Model {
    vs: nn::VarStore,
    network: PolicyNetwork,
    optimizer: Adam,
    objective: Objective,
    log_z: Option<Tensor>,
    averaged: Option<AveragedPolicy>,
    /// Flow matching with `epsilon_log_z_threshold`: the learned `log Z` of the last update's
    /// batch, which sets the next update's floor (`None` before the first update and after a
    /// restart from a checkpoint).
    last_log_z: Option<f64>,
}

/// The averaged network (and `log Z`) of a model with weight averaging.
struct AveragedPolicy {
    average: WeightAverage,
    network: PolicyNetwork,
    log_z: Option<Tensor>,
}

/// Name of trajectory balance's `log Z` variable (saved as `policy.log_z`).
const LOG_Z: &str = "log_z";

/// Prefix of the policy's tensors in checkpoints and weight snapshots: the policy that samples
/// (the average when weights are averaged).
use crate::policy::{POLICY_PREFIX, flow_log_partition, load_prefixed};

/// Prefix of the trained (not averaged) weights in checkpoints of a model with averaging.
const TRAINED_PREFIX: &str = "trained.";

impl Model {
    /// A freshly initialised model with the network `policy` describes for `env` and the
    /// outputs `objective` needs; `log_z_learning_rate` is used if the objective learns `log Z`.
    /// With `averaging_decay` in `(0, 1)` the policy it hands out (for sampling, publishing and
    /// evaluation) is a Polyak average of the trained weights; 0 turns averaging off. The
    /// parameters (and so Adam's moments and the loss) have the element kind of `options`
    /// (`Float` or `Double`) and live on its device.
    pub fn new<E: Environment>(
        (kind, device): (Kind, Device),
        env: &E,
        policy: &PolicyConfig,
        adam: AdamConfig,
        objective: Objective,
        log_z_learning_rate: f64,
        averaging_decay: f64,
    ) -> Self {
        let objective = objective.for_environment(env);
        let extra = objective.extra_outputs(env.num_actions());
        let build = |vs: &mut nn::VarStore| {
            let network = PolicyNetwork::new(&vs.root(), env, policy, extra);
            let log_z = objective.learns_log_z().then(|| vs.root().zeros(LOG_Z, &[1]));
            vs.set_kind(kind);
            (network, log_z)
        };
        let mut vs = nn::VarStore::new(device);
        let (network, log_z) = build(&mut vs);
        let mut optimizer = Adam::new(&vs, adam);
        if log_z.is_some() {
            optimizer.set_learning_rate(LOG_Z, log_z_learning_rate);
        }
        let averaged = (averaging_decay > 0.0).then(|| {
            let mut averaged_vs = nn::VarStore::new(device);
            let (network, log_z) = build(&mut averaged_vs);
            AveragedPolicy { average: WeightAverage::new(averaging_decay, &vs, averaged_vs), network, log_z }
        });
        Self { vs, network, optimizer, objective, log_z, averaged, last_log_z: None }
    }

    /// The model a run configuration describes, for `env`.
    pub fn from_config<E: Environment>(device: Device, env: &E, config: &RunConfig) -> Self {
        let adam = AdamConfig {
            epsilon: config.training.adam_epsilon,
            ..AdamConfig::with_learning_rate(config.training.learning_rate)
        };
        let log_z_learning_rate = config.objective.log_z_learning_rate().unwrap_or(adam.learning_rate);
        Self::new(
            (config.training.precision.kind(), device),
            env,
            &config.policy,
            adam,
            config.objective.objective(),
            log_z_learning_rate,
            config.training.weight_averaging,
        )
    }

    /// The policy network that samples and is evaluated: the averaged one when weights are
    /// averaged, else the trained one.
    pub fn network(&self) -> &PolicyNetwork {
        self.averaged.as_ref().map_or(&self.network, |a| &a.network)
    }

    /// Number of updates applied so far.
    pub fn updates(&self) -> u64 {
        self.optimizer.steps()
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// One update on `trajectories`: every distinct state the loss needs is evaluated once, in
    /// a single forward pass.
    pub fn update<E: Environment>(
        &mut self,
        env: &E,
        trajectories: &[RebuiltTrajectory<E::State>],
    ) -> UpdateStats {
        let device = self.vs.device();
        let (loss, states_evaluated) = match self.objective {
            Objective::FlowMatching(fm) => {
                let fm = fm.at_update(self.updates()).with_log_z(self.last_log_z);
                let batch = fm.prepare(env, trajectories);
                let states: Vec<&E::State> = batch.states.iter().collect();
                let log_flows = self.network.log_flows(&env.encode_batch(&states, device));
                if fm.epsilon_log_z_threshold.is_some() {
                    self.last_log_z = batch.log_partition(&log_flows).or(self.last_log_z);
                }
                (fm.loss(&log_flows, &batch), batch.states.len())
            }
            Objective::Balance(objective) => {
                let objective = objective.at_update(self.updates());
                let batch = balance::prepare(env, trajectories);
                let states: Vec<&E::State> = batch.states.iter().collect();
                let outputs = self.network.outputs(&env.encode_batch(&states, device));
                (objective.loss(&outputs, &batch, self.log_z.as_ref()), batch.states.len())
            }
        };
        let applied = self.optimizer.backward_step(&loss);
        if applied && let Some(averaged) = &self.averaged {
            averaged.average.update(&self.vs);
        }
        UpdateStats { loss: loss.double_value(&[]), states_evaluated, applied }
    }

    /// The learned `log Z` of the policy [`Model::network`] hands out: trajectory balance's
    /// scalar, the state flow of `s0` for detailed and sub-trajectory balance, the total out-flow
    /// of `s0` for flow matching.
    pub fn learned_log_z<E: Environment>(&self, env: &E) -> f64 {
        let _no_grad = tch::no_grad_guard();
        let log_z = match &self.averaged {
            Some(averaged) => averaged.log_z.as_ref(),
            None => self.log_z.as_ref(),
        };
        if let Some(log_z) = log_z {
            return log_z.double_value(&[0]);
        }
        let network = self.network();
        if self.objective.has_state_flow() {
            let s0 = env.initial_state();
            let outputs = network.outputs(&env.encode_batch(&[&s0], self.vs.device()));
            return outputs.double_value(&[0, env.num_actions() as i64]);
        }
        flow_log_partition(env, network)
    }

    /// The weights of the policy that samples, as named tensors (`policy.layer0.weight`, …):
    /// the averaged ones when weights are averaged.
    pub fn policy_tensors(&self) -> NamedTensors {
        let store = self.averaged.as_ref().map_or(&self.vs, |a| a.average.store());
        prefixed(store, POLICY_PREFIX)
    }

    /// A detached copy of the policy weights, safe to hand to another thread while training
    /// goes on.
    pub fn policy_copy(&self) -> NamedTensors {
        self.policy_tensors().into_iter().map(|(name, t)| (name, t.detach().copy())).collect()
    }

    /// Policy weights (with averaging: the average as `policy.*` and the trained weights as
    /// `trained.*`) and optimizer state, as written to checkpoints.
    pub fn state_tensors(&self) -> NamedTensors {
        let mut named = self.policy_tensors();
        if self.averaged.is_some() {
            named.extend(prefixed(&self.vs, TRAINED_PREFIX));
        }
        named.extend(self.optimizer.state());
        named
    }

    /// Restores weights and optimizer state from [`Model::state_tensors`] output; fails naming
    /// the first missing or mis-shaped tensor. A model with averaging resumed from a
    /// checkpoint written without it starts its average at the trained weights.
    pub fn load_state_tensors(&mut self, tensors: NamedTensors) -> Result<(), LoadError> {
        let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        let lookup = |key: &str| map.get(key).map(Tensor::shallow_clone);
        match &self.averaged {
            None => load_prefixed(&self.vs, POLICY_PREFIX, lookup)?,
            Some(averaged) => {
                let has_trained = map.keys().any(|key| key.starts_with(TRAINED_PREFIX));
                if has_trained {
                    load_prefixed(&self.vs, TRAINED_PREFIX, lookup)?;
                    load_prefixed(averaged.average.store(), POLICY_PREFIX, lookup)?;
                } else {
                    load_prefixed(&self.vs, POLICY_PREFIX, lookup)?;
                    averaged.average.reset_to(&self.vs);
                }
            }
        }
        self.optimizer.load_state(lookup)
    }
}

/// The variables of `vs` as named tensors with `prefix`, sorted by name.
fn prefixed(vs: &nn::VarStore, prefix: &str) -> NamedTensors {
    let mut named: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(name, t)| (format!("{prefix}{name}"), t)).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;
    use crate::env::hypergrid::GridState;
    use crate::objective::balance::{BackwardPolicy, Balance, BalanceObjective};
    use crate::objective::{FlowMatching, LogRewardWarmUp};
    use crate::policy::Exploration;
    use crate::reward::{HypergridReward, Reward};
    use crate::sampler::Sampler;
    use crate::trajectory::{Trajectory, rebuild};
    use rand::SeedableRng;

    const DECAY: f64 = 0.9;

    fn model(env: &Hypergrid, averaging_decay: f64) -> Model {
        model_in(Kind::Float, env, averaging_decay)
    }

    fn model_in(kind: Kind, env: &Hypergrid, averaging_decay: f64) -> Model {
        Model::new(
            (kind, Device::Cpu),
            env,
            &PolicyConfig::mlp(16, 1),
            AdamConfig::with_learning_rate(1e-2),
            Objective::Balance(BalanceObjective::new(Balance::Trajectory, BackwardPolicy::Uniform)),
            0.1,
            averaging_decay,
        )
    }

    fn batch(env: &Hypergrid, model: &Model, seed: u64) -> Vec<RebuiltTrajectory<GridState>> {
        let reward = HypergridReward::new(4, 0.1, 0.5, 2.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut sampler = Sampler::new(env, Exploration::ON_POLICY);
        sampler
            .sample(model.network(), 8, &mut rng)
            .into_iter()
            .map(|t| {
                let log_reward = reward.log_reward(&t.terminal).unwrap();
                rebuild(env, &Trajectory { actions: t.actions, log_reward, ..Default::default() }).unwrap()
            })
            .collect()
    }

    fn values(named: &NamedTensors, prefix: &str) -> Vec<(String, Vec<f64>)> {
        named
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, t)| {
                let flat = t.to_kind(tch::Kind::Double).flatten(0, -1);
                (name[prefix.len()..].to_string(), Vec::<f64>::try_from(flat).unwrap())
            })
            .collect()
    }

    fn flow_matching_model(env: &Hypergrid, objective: FlowMatching) -> Model {
        objective_model(env, Objective::FlowMatching(objective))
    }

    /// A small MLP model of `env` training on `objective`, without weight averaging.
    fn objective_model(env: &Hypergrid, objective: Objective) -> Model {
        Model::new(
            (Kind::Float, Device::Cpu),
            env,
            &PolicyConfig::mlp(16, 1),
            AdamConfig::with_learning_rate(1e-2),
            objective,
            0.1,
            0.0,
        )
    }

    /// The loss `reference` gives `model`'s current weights (and Adam state) on `trajectories`
    /// under the fixed (unscheduled) objective `objective`.
    fn loss_with_fixed_objective(
        env: &Hypergrid,
        reference: &mut Model,
        model: &Model,
        trajectories: &[RebuiltTrajectory<GridState>],
        objective: Objective,
    ) -> f64 {
        reference.load_state_tensors(model.state_tensors()).unwrap();
        reference.objective = objective;
        reference.update(env, trajectories).loss
    }

    #[test]
    fn updates_use_the_floor_of_their_place_in_the_epsilon_warm_up() {
        let env = Hypergrid::new(2, 4);
        let (start, end) = (1e-1, 1e-4);
        let warmed = FlowMatching {
            epsilon_start: start,
            epsilon_warmup_updates: 3,
            ..FlowMatching::with_epsilon(end)
        };
        let mut model = flow_matching_model(&env, warmed);
        let trajectories = batch(&env, &model, 3);
        let mut reference = flow_matching_model(&env, FlowMatching::with_epsilon(start));
        for update in 0..5u64 {
            let epsilon = warmed.at_update(update).epsilon;
            let fixed = Objective::FlowMatching(FlowMatching::with_epsilon(epsilon));
            let expected = loss_with_fixed_objective(&env, &mut reference, &model, &trajectories, fixed);
            let got = model.update(&env, &trajectories).loss;
            assert!(
                (got - expected).abs() < 1e-6,
                "update {update}: loss {got}, ε {epsilon} gives {expected}"
            );
            if update >= 3 {
                assert_eq!(epsilon, end);
            }
        }
        assert!(warmed.at_update(1).epsilon > warmed.at_update(2).epsilon);
    }

    #[test]
    fn updates_train_on_the_log_reward_multiplier_of_their_place_in_the_reward_warm_up() {
        let env = Hypergrid::new(2, 4);
        let warmed = FlowMatching {
            log_reward_warmup: LogRewardWarmUp::new(Some(0.25), 3),
            ..FlowMatching::with_epsilon(1e-4)
        };
        let mut model = flow_matching_model(&env, warmed);
        let trajectories = batch(&env, &model, 3);
        assert!(trajectories.iter().any(|t| t.log_reward != 0.0), "the multiplier must matter");
        let mut reference = flow_matching_model(&env, FlowMatching::with_epsilon(1e-4));
        let mut unscaled = flow_matching_model(&env, FlowMatching::with_epsilon(1e-4));
        for update in 0..5u64 {
            let scale = warmed.at_update(update).log_reward_scale;
            let fixed = Objective::FlowMatching(FlowMatching {
                log_reward_scale: scale,
                ..FlowMatching::with_epsilon(1e-4)
            });
            let expected = loss_with_fixed_objective(&env, &mut reference, &model, &trajectories, fixed);
            let plain = Objective::FlowMatching(FlowMatching::with_epsilon(1e-4));
            let as_given = loss_with_fixed_objective(&env, &mut unscaled, &model, &trajectories, plain);
            let got = model.update(&env, &trajectories).loss;
            assert!((got - expected).abs() < 1e-6, "update {update}: loss {got}, m {scale} gives {expected}");
            if update < 3 {
                assert!((got - as_given).abs() > 1e-6, "update {update}: m {scale} changes the loss");
            } else {
                assert_eq!(scale, 1.0);
            }
        }
    }

    #[test]
    fn trajectory_balance_updates_train_on_the_log_reward_multiplier_of_their_place_in_the_warm_up() {
        let env = Hypergrid::new(2, 4);
        let tb = BalanceObjective::new(Balance::Trajectory, BackwardPolicy::Uniform);
        let warmed = tb.with_log_reward_warmup(LogRewardWarmUp::new(Some(0.25), 3));
        let mut model = objective_model(&env, Objective::Balance(warmed));
        let trajectories = batch(&env, &model, 3);
        assert!(trajectories.iter().any(|t| t.log_reward != 0.0), "the multiplier must matter");
        let mut reference = objective_model(&env, Objective::Balance(tb));
        let mut loss_under = |objective: BalanceObjective, model: &Model| {
            loss_with_fixed_objective(
                &env,
                &mut reference,
                model,
                &trajectories,
                Objective::Balance(objective),
            )
        };
        for update in 0..5u64 {
            let scale = warmed.at_update(update).log_reward_scale;
            let expected = loss_under(BalanceObjective { log_reward_scale: scale, ..tb }, &model);
            let as_given = loss_under(tb, &model);
            let got = model.update(&env, &trajectories).loss;
            assert!((got - expected).abs() < 1e-6, "update {update}: loss {got}, m {scale} gives {expected}");
            if update < 3 {
                assert!((got - as_given).abs() > 1e-6, "update {update}: m {scale} changes the loss");
            } else {
                assert_eq!(scale, 1.0);
                assert!(
                    (got - as_given).abs() < 1e-9,
                    "update {update}: {got} vs {as_given} after the warm-up"
                );
            }
        }
    }

    #[test]
    fn a_low_learned_log_z_lowers_the_next_updates_floor() {
        let env = Hypergrid::new(2, 4);
        let (epsilon, threshold) = (1e-2, 50.0);
        let tracking =
            FlowMatching { epsilon_log_z_threshold: Some(threshold), ..FlowMatching::with_epsilon(epsilon) };
        let mut model = flow_matching_model(&env, tracking);
        let trajectories = batch(&env, &model, 4);
        let mut reference = flow_matching_model(&env, FlowMatching::with_epsilon(epsilon));
        assert_eq!(model.last_log_z, None, "no log Z before the first update");
        for update in 0..4 {
            // the floor this update must use: ε, scaled by the last batch's log Z once there is one
            let expected_epsilon =
                model.last_log_z.map_or(epsilon, |z| epsilon * (z - threshold).min(0.0).exp());
            if update > 0 {
                assert!(
                    expected_epsilon < epsilon * 1e-10,
                    "log Z ≪ 50 scales the floor: {expected_epsilon}"
                );
            }
            let fixed = Objective::FlowMatching(FlowMatching::with_epsilon(expected_epsilon));
            let expected = loss_with_fixed_objective(&env, &mut reference, &model, &trajectories, fixed);
            let got = model.update(&env, &trajectories).loss;
            assert!(
                (got - expected).abs() < 1e-6,
                "update {update}: loss {got}, ε {expected_epsilon} gives {expected}"
            );
            assert!(model.last_log_z.is_some_and(f64::is_finite));
        }
    }

    #[test]
    fn averaged_policy_trails_the_trained_weights_by_the_decay() {
        let env = Hypergrid::new(2, 4);
        let mut plain = model(&env, 0.0);
        let mut averaged = model(&env, DECAY);
        averaged.load_state_tensors(plain.state_tensors()).unwrap();
        // Same initial weights, same batches: the trained weights move identically.
        let initial = values(&plain.policy_tensors(), POLICY_PREFIX);
        assert_eq!(initial, values(&averaged.policy_tensors(), POLICY_PREFIX));
        let trajectories = batch(&env, &plain, 1);
        plain.update(&env, &trajectories);
        averaged.update(&env, &trajectories);
        let trained = values(&plain.policy_tensors(), POLICY_PREFIX);
        assert_eq!(trained, values(&averaged.state_tensors(), TRAINED_PREFIX));
        // The handed-out policy is 0.9 · initial + 0.1 · trained, log Z included.
        let handed_out = values(&averaged.policy_tensors(), POLICY_PREFIX);
        assert_eq!(handed_out.len(), trained.len());
        assert!(handed_out.iter().any(|(name, _)| name == LOG_Z));
        for ((name, avg), ((_, start), (_, now))) in handed_out.iter().zip(initial.iter().zip(&trained)) {
            for ((a, s), n) in avg.iter().zip(start).zip(now) {
                assert!((a - (DECAY * s + (1.0 - DECAY) * n)).abs() < 1e-6, "{name}: {a} vs {s} → {n}");
            }
        }
        assert!(
            (averaged.learned_log_z(&env) - handed_out.iter().find(|(n, _)| n == LOG_Z).unwrap().1[0]).abs()
                < 1e-9
        );
        assert_ne!(handed_out, trained, "an update moves the trained weights away from the average");
    }

    #[test]
    fn checkpoint_round_trip_restores_trained_and_averaged_weights() {
        let env = Hypergrid::new(2, 4);
        let mut original = model(&env, DECAY);
        for seed in 0..3 {
            let trajectories = batch(&env, &original, seed);
            original.update(&env, &trajectories);
        }
        let saved = original.state_tensors();
        let mut restored = model(&env, DECAY);
        restored.load_state_tensors(saved.iter().map(|(n, t)| (n.clone(), t.copy())).collect()).unwrap();
        assert_eq!(values(&restored.state_tensors(), ""), values(&saved, ""));

        // A checkpoint without averaged weights (averaging was off) starts the average at the
        // trained weights.
        let mut plain = model(&env, 0.0);
        let trajectories = batch(&env, &plain, 9);
        plain.update(&env, &trajectories);
        let mut switched_on = model(&env, DECAY);
        switched_on.load_state_tensors(plain.state_tensors()).unwrap();
        assert_eq!(
            values(&switched_on.policy_tensors(), POLICY_PREFIX),
            values(&plain.policy_tensors(), POLICY_PREFIX)
        );
        assert_eq!(
            values(&switched_on.state_tensors(), TRAINED_PREFIX),
            values(&plain.policy_tensors(), POLICY_PREFIX)
        );
    }

    #[test]
    fn a_non_finite_loss_skips_the_update_and_keeps_the_weights() {
        let env = Hypergrid::new(2, 4);
        let mut model = model(&env, DECAY);
        let mut trajectories = batch(&env, &model, 3);
        let before = values(&model.state_tensors(), "");
        // log R = 1e30: its square overflows float32, the loss is infinite
        trajectories[0].record.log_reward = 1e30;
        let stats = model.update(&env, &trajectories);
        assert!(!stats.applied && !stats.loss.is_finite(), "{stats:?}");
        assert_eq!(values(&model.state_tensors(), ""), before, "weights, average and Adam state unchanged");
        assert_eq!(model.updates(), 0);
        // a finite batch afterwards trains normally
        trajectories[0].record.log_reward = 0.0;
        let stats = model.update(&env, &trajectories);
        assert!(stats.applied && stats.loss.is_finite());
        assert_ne!(values(&model.state_tensors(), ""), before);
    }

    #[test]
    fn a_float64_model_trains_in_double_precision_and_checkpoints_load_across_precisions() {
        let env = Hypergrid::new(2, 4);
        let mut single = model(&env, DECAY);
        let mut double = model_in(Kind::Double, &env, DECAY);
        double.load_state_tensors(single.state_tensors()).unwrap();
        let trajectories = batch(&env, &single, 4);
        let (a, b) = (single.update(&env, &trajectories), double.update(&env, &trajectories));
        assert!(a.applied && b.applied);
        // the same loss from the same weights, computed in both precisions
        assert!((a.loss - b.loss).abs() <= 1e-5 * a.loss.abs().max(1.0), "{} vs {}", a.loss, b.loss);
        // parameters, average and Adam's moments are all double; what actors get is not touched here
        let state = double.state_tensors();
        let floating = |t: &Tensor| t.kind() != Kind::Int64; // adam.steps counts
        assert!(state.iter().filter(|(_, t)| floating(t)).all(|(_, t)| t.kind() == Kind::Double));
        assert!(state.iter().filter(|(_, t)| floating(t)).count() > 4);
        assert!(double.policy_tensors().iter().all(|(_, t)| t.kind() == Kind::Double));
        for _ in 0..20 {
            double.update(&env, &trajectories);
        }
        let last = double.update(&env, &trajectories);
        assert!(last.applied && last.loss < b.loss, "training lowers the loss: {} → {}", b.loss, last.loss);
        // a float64 checkpoint loads into a float32 model and back
        let mut back = model(&env, DECAY);
        back.load_state_tensors(double.state_tensors()).unwrap();
        let (from, to) = (values(&double.state_tensors(), ""), values(&back.state_tensors(), ""));
        assert_eq!(from.len(), to.len());
        for ((name, x), (_, y)) in from.iter().zip(&to) {
            assert!(x.iter().zip(y).all(|(x, y)| (x - y).abs() <= 1e-6 * x.abs().max(1.0)), "{name}");
        }
        assert!(
            back.state_tensors().iter().filter(|(_, t)| floating(t)).all(|(_, t)| t.kind() == Kind::Float)
        );
    }
}
