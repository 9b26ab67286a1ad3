//! Balance objectives over whole trajectories or their transitions:
//!
//! * **Trajectory balance** (Malkin et al. 2022):
//!   `(log Z + Σ_t log P_F(s_{t+1} | s_t) − log R(x) − Σ_t log P_B(s_t | s_{t+1}))²` per trajectory,
//!   with a learned scalar `log Z`.
//! * **Detailed balance** (Bengio et al., GFlowNet Foundations): per transition
//!   `(log F(s) + log P_F(s' | s) − log F(s') − log P_B(s | s'))²`, with a learned state flow
//!   `log F(s)`; the stop transition uses `F(⊤x) = R(x)` and `P_B = 1`.
//! * **Sub-trajectory balance** (Madan et al. 2023): the detailed-balance residual summed over
//!   every sub-trajectory `s_i → … → s_j` (`⊤x` included as the last node, with `log F = log R`),
//!   squared, weighted `λ^{j−i}` and normalised per trajectory.
//!
//! `P_F(s' | s)` sums the policy's probabilities of every action of `s` that leads to `s'` (an
//! environment may have several). `P_B` is uniform over the in-edges of `s'` by default
//! (`P_B(s | s') = k / N` for `k` of its `N` in-edges coming from `s`), or learned: a softmax over
//! the in-edges of extra network outputs indexed by each edge's forward action.
//!
//! Network outputs per state: `num_actions` policy logits (masked and log-softmaxed here), then
//! one state log flow if the objective needs it, then `num_actions` backward logits if `P_B` is
//! learned. Every distinct state of a batch is evaluated once, in one forward pass.
//!
//! With a [`BalanceObjective::log_reward_warmup`], every `log R` of the loss (the terminal
//! terms; the last node `⊤x` of sub-trajectory balance) is multiplied by
//! [`BalanceObjective::log_reward_scale`], rising linearly to 1 over the first updates
//! ([`LogRewardWarmUp`], as for flow matching).

use std::hash::Hash;

use rustc_hash::FxHashMap;
use tch::Tensor;

use super::LogRewardWarmUp;
use crate::env::Environment;
use crate::trajectory::RebuiltTrajectory;

/// Which balance objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Balance {
    /// Trajectory balance with a learned `log Z`.
    Trajectory,
    /// Detailed balance with a state-flow head.
    Detailed,
    /// Sub-trajectory balance with λ-geometric weights.
    SubTrajectory {
        /// Weight ratio per extra transition of a sub-trajectory.
        lambda: f64,
    },
}

/// How the backward policy is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackwardPolicy {
    /// Uniform over the in-edges of each state.
    #[default]
    Uniform,
    /// Learned: a softmax over the in-edges of extra outputs.
    Learned,
}

/// A balance objective and its backward policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceObjective {
    /// The loss.
    pub balance: Balance,
    /// Uniform or learned `P_B`.
    pub backward: BackwardPolicy,
    /// Multiplier on every `log R` in this update's loss (1: the reward as given;
    /// [`BalanceObjective::at_update`] sets it during a reward warm-up).
    pub log_reward_scale: f64,
    /// The schedule of that multiplier ([`LogRewardWarmUp::NONE`]: none).
    pub log_reward_warmup: LogRewardWarmUp,
    /// `log Z` is a function of each trajectory's condition, read from the state flow of its
    /// root (a conditioned environment; [`super::Objective::for_environment`] sets it), rather
    /// than one learned scalar. Only trajectory balance reads it: the others' state flows
    /// already are.
    pub conditional_log_z: bool,
}

impl BalanceObjective {
    /// `balance` with backward policy `backward`, training on the reward as given.
    pub fn new(balance: Balance, backward: BackwardPolicy) -> Self {
        Self {
            balance,
            backward,
            log_reward_scale: 1.0,
            log_reward_warmup: LogRewardWarmUp::NONE,
            conditional_log_z: false,
        }
    }

    /// The same objective under the log-reward warm-up `warmup`.
    pub fn with_log_reward_warmup(self, warmup: LogRewardWarmUp) -> Self {
        Self { log_reward_warmup: warmup, ..self }
    }

    /// The objective of update `update` (0 = the first): its `log R` multiplier is
    /// [`LogRewardWarmUp::scale_at`] during the warm-up, 1 after it, unchanged without one.
    pub fn at_update(&self, update: u64) -> Self {
        let (log_reward_scale, log_reward_warmup) =
            self.log_reward_warmup.apply_at(update, self.log_reward_scale);
        Self { log_reward_scale, log_reward_warmup, ..*self }
    }

    /// Whether the network has a state-flow output.
    pub fn needs_state_flow(&self) -> bool {
        !matches!(self.balance, Balance::Trajectory) || self.conditional_log_z
    }

    /// Extra network outputs beyond the policy logits.
    pub fn extra_outputs(&self, num_actions: usize) -> usize {
        usize::from(self.needs_state_flow())
            + if self.backward == BackwardPolicy::Learned { num_actions } else { 0 }
    }
}

/// One non-stop transition `s_t → s_{t+1}` of a trajectory.
#[derive(Debug, Clone, PartialEq)]
struct Transition {
    from: usize,
    to: usize,
    /// Actions of `from` leading to `to`.
    forward_actions: Vec<usize>,
    /// The in-edges of `to` from `from` (their forward actions), and all in-edges of `to`.
    backward_chosen: Vec<usize>,
    backward_all: Vec<usize>,
    /// `log(k / N)`: the uniform backward policy's probability of `from`.
    uniform_log_pb: f64,
}

/// A batch prepared for a balance loss.
#[derive(Debug)]
pub struct BalanceBatch<S> {
    /// The distinct states to evaluate, in order.
    pub states: Vec<S>,
    num_actions: usize,
    stop: usize,
    /// Allowed actions, `[states · num_actions]`.
    mask: Vec<bool>,
    /// Per trajectory: its transitions (indices into `transitions`), terminal row, log R.
    trajectories: Vec<(Vec<usize>, usize, f64)>,
    /// Per trajectory: the row of its first state (its condition's root).
    roots: Vec<usize>,
    transitions: Vec<Transition>,
}

impl<S> BalanceBatch<S> {
    /// Number of trajectories.
    pub fn num_trajectories(&self) -> usize {
        self.trajectories.len()
    }
}

/// Collects the distinct states, masks and transitions of `trajectories`.
pub fn prepare<E: Environment>(
    env: &E,
    trajectories: &[RebuiltTrajectory<E::State>],
) -> BalanceBatch<E::State>
where
    E::State: Eq + Hash + Clone,
{
    let num_actions = env.num_actions();
    let mut rows: FxHashMap<E::State, usize> = FxHashMap::default();
    let mut states: Vec<E::State> = Vec::new();
    let mut row_of = |state: &E::State, states: &mut Vec<E::State>| -> usize {
        *rows.entry(state.clone()).or_insert_with(|| {
            states.push(state.clone());
            states.len() - 1
        })
    };
    let mut transitions = Vec::new();
    let mut prepared = Vec::with_capacity(trajectories.len());
    let mut roots = Vec::with_capacity(trajectories.len());
    for trajectory in trajectories {
        roots.push(row_of(&trajectory.states[0], &mut states));
        let mut indices = Vec::with_capacity(trajectory.states.len());
        for pair in trajectory.states.windows(2) {
            let (from, to) = (row_of(&pair[0], &mut states), row_of(&pair[1], &mut states));
            let parents = env.parents(&pair[1]);
            let forward_actions: Vec<usize> =
                parents.iter().filter(|(p, _)| *p == pair[0]).map(|(_, a)| *a as usize).collect();
            let backward_all: Vec<usize> = parents.iter().map(|(_, a)| *a as usize).collect();
            let uniform_log_pb = uniform_log_pb(&parents, &pair[0]);
            indices.push(transitions.len());
            transitions.push(Transition {
                from,
                to,
                backward_chosen: forward_actions.clone(),
                forward_actions,
                backward_all,
                uniform_log_pb,
            });
        }
        let terminal = row_of(trajectory.terminal(), &mut states);
        prepared.push((indices, terminal, trajectory.log_reward));
    }
    let mut mask = vec![false; states.len() * num_actions];
    for (state, row) in states.iter().zip(mask.chunks_exact_mut(num_actions)) {
        env.forward_mask(state, row);
    }
    BalanceBatch {
        states,
        num_actions,
        stop: env.stop_action() as usize,
        mask,
        trajectories: prepared,
        roots,
        transitions,
    }
}

/// `logsumexp` of `values[index]` along rows of a padded `[rows, width]` index (padding points at
/// a `−∞` appended to `values`).
fn gather_logsumexp(values: &Tensor, lists: &[&[usize]], offset: impl Fn(usize) -> i64) -> Tensor {
    let padding = values.size()[0];
    let width = lists.iter().map(|l| l.len()).max().unwrap_or(1).max(1);
    let mut index = Vec::with_capacity(lists.len() * width);
    for (row, list) in lists.iter().enumerate() {
        index.extend(list.iter().map(|&a| offset(row) + a as i64));
        index.extend(std::iter::repeat_n(padding, width - list.len()));
    }
    let extended =
        Tensor::cat(&[values, &Tensor::full([1], f64::NEG_INFINITY, (values.kind(), values.device()))], 0);
    let index =
        Tensor::from_slice(&index).view([lists.len() as i64, width as i64]).to_device(values.device());
    extended.take(&index).logsumexp([1i64].as_slice(), false)
}

impl BalanceObjective {
    /// The loss of `batch` from the network `outputs` (`[states, num_actions + extra]`);
    /// `log_z` is the learned `log Z` (trajectory balance only).
    pub fn loss<S>(&self, outputs: &Tensor, batch: &BalanceBatch<S>, log_z: Option<&Tensor>) -> Tensor {
        let device = outputs.device();
        let kind = outputs.kind();
        let options = (kind, device);
        let a = batch.num_actions as i64;
        let num_states = batch.states.len() as i64;
        let logits = outputs.narrow(1, 0, a);
        let mask = Tensor::from_slice(&batch.mask).view([num_states, a]).to_device(device);
        let log_policy = logits.masked_fill(&mask.logical_not(), f64::NEG_INFINITY).log_softmax(1, kind);
        let flat_policy = log_policy.reshape([-1]);
        let n = batch.num_actions;
        // log P_F of each non-stop transition and of each trajectory's stop
        let forward: Vec<&[usize]> = batch.transitions.iter().map(|t| t.forward_actions.as_slice()).collect();
        let from_rows: Vec<usize> = batch.transitions.iter().map(|t| t.from).collect();
        let log_pf = if forward.is_empty() {
            Tensor::zeros([0], options)
        } else {
            gather_logsumexp(&flat_policy, &forward, |i| (from_rows[i] * n) as i64)
        };
        let stop_index: Vec<i64> =
            batch.trajectories.iter().map(|(_, terminal, _)| (terminal * n + batch.stop) as i64).collect();
        let log_pf_stop = flat_policy.index_select(0, &Tensor::from_slice(&stop_index).to_device(device));
        // log P_B of each non-stop transition
        let log_pb = match self.backward {
            BackwardPolicy::Uniform => {
                let values: Vec<f32> = batch.transitions.iter().map(|t| t.uniform_log_pb as f32).collect();
                Tensor::from_slice(&values).to_device(device).to_kind(kind)
            }
            BackwardPolicy::Learned => {
                let offset = a + i64::from(self.needs_state_flow());
                let backward = outputs.narrow(1, offset, a).reshape([-1]);
                let to_rows: Vec<usize> = batch.transitions.iter().map(|t| t.to).collect();
                let chosen: Vec<&[usize]> =
                    batch.transitions.iter().map(|t| t.backward_chosen.as_slice()).collect();
                let all: Vec<&[usize]> =
                    batch.transitions.iter().map(|t| t.backward_all.as_slice()).collect();
                if chosen.is_empty() {
                    Tensor::zeros([0], options)
                } else {
                    gather_logsumexp(&backward, &chosen, |i| (to_rows[i] * n) as i64)
                        - gather_logsumexp(&backward, &all, |i| (to_rows[i] * n) as i64)
                }
            }
        };
        let log_rewards: Vec<f32> =
            batch.trajectories.iter().map(|t| (t.2 * self.log_reward_scale) as f32).collect();
        let log_rewards = Tensor::from_slice(&log_rewards).to_device(device).to_kind(kind);
        match self.balance {
            Balance::Trajectory => {
                let owner: Vec<i64> = batch
                    .trajectories
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (t, _, _))| std::iter::repeat_n(i as i64, t.len()))
                    .collect();
                let owner = Tensor::from_slice(&owner).to_device(device);
                let sums = Tensor::zeros([batch.trajectories.len() as i64], options).index_add(
                    0,
                    &owner,
                    &(&log_pf - &log_pb),
                );
                let log_z = if self.conditional_log_z {
                    let roots: Vec<i64> = batch.roots.iter().map(|&r| r as i64).collect();
                    outputs.select(1, a).index_select(0, &Tensor::from_slice(&roots).to_device(device))
                } else {
                    log_z.expect("trajectory balance has a log Z").shallow_clone()
                };
                (log_z + sums + log_pf_stop - log_rewards).square().mean(kind)
            }
            Balance::Detailed => {
                let flows = outputs.select(1, a);
                let from = Tensor::from_slice(&from_rows.iter().map(|&r| r as i64).collect::<Vec<_>>())
                    .to_device(device);
                let to: Vec<i64> = batch.transitions.iter().map(|t| t.to as i64).collect();
                let to = Tensor::from_slice(&to).to_device(device);
                let interior = flows.index_select(0, &from) + &log_pf - flows.index_select(0, &to) - &log_pb;
                let terminal_rows: Vec<i64> = batch.trajectories.iter().map(|t| t.1 as i64).collect();
                let terminal_rows = Tensor::from_slice(&terminal_rows).to_device(device);
                let terminal = flows.index_select(0, &terminal_rows) + log_pf_stop - log_rewards;
                Tensor::cat(&[interior, terminal], 0).square().mean(kind)
            }
            Balance::SubTrajectory { lambda } => {
                // All trajectories at once, padded to the longest: node k of trajectory i is
                // s_k (k ≤ len_i) or ⊤ (k = len_i + 1), with log F(⊤) = log R; step k is
                // log P_F − log P_B of the transition leaving node k (stop for k = len_i).
                let flows = outputs.select(1, a);
                let num_states = batch.states.len() as i64;
                let num_transitions = batch.transitions.len() as i64;
                let b = batch.trajectories.len();
                let nodes = batch.trajectories.iter().map(|t| t.0.len() + 2).max().unwrap_or(2);
                let node_values = Tensor::cat(&[flows, log_rewards.shallow_clone()], 0);
                let zero = Tensor::zeros([1], options);
                let step_values = Tensor::cat(&[&log_pf - &log_pb, log_pf_stop.shallow_clone(), zero], 0);
                let padding_step = num_transitions + b as i64;
                let mut node_index = vec![0i64; b * nodes];
                let mut step_index = vec![padding_step; b * (nodes - 1)];
                let mut weights = vec![0f32; b * nodes * nodes];
                for (i, (indices, terminal, _)) in batch.trajectories.iter().enumerate() {
                    let len = indices.len();
                    for (k, &t) in indices.iter().enumerate() {
                        node_index[i * nodes + k] = batch.transitions[t].from as i64;
                        step_index[i * (nodes - 1) + k] = t as i64;
                    }
                    node_index[i * nodes + len] = *terminal as i64;
                    node_index[i * nodes + len + 1] = num_states + i as i64;
                    step_index[i * (nodes - 1) + len] = num_transitions + i as i64;
                    let mut total = 0.0;
                    for p in 0..len + 2 {
                        for q in (p + 1)..len + 2 {
                            total += lambda.powi((q - p) as i32);
                        }
                    }
                    for p in 0..len + 2 {
                        for q in (p + 1)..len + 2 {
                            weights[(i * nodes + p) * nodes + q] =
                                (lambda.powi((q - p) as i32) / total) as f32;
                        }
                    }
                }
                let index = |v: &[i64], shape: [i64; 2]| Tensor::from_slice(v).view(shape).to_device(device);
                let node_flows = node_values.take(&index(&node_index, [b as i64, nodes as i64]));
                let steps = step_values.take(&index(&step_index, [b as i64, nodes as i64 - 1]));
                // C_0 = 0, C_{k+1} = C_k + d_k; residual(p, q) = g_p − g_q with g = log F − C
                let cumulative =
                    Tensor::cat(&[Tensor::zeros([b as i64, 1], options), steps.cumsum(1, kind)], 1);
                let g = node_flows - cumulative;
                let residual = g.unsqueeze(2) - g.unsqueeze(1);
                let weights = Tensor::from_slice(&weights)
                    .view([b as i64, nodes as i64, nodes as i64])
                    .to_device(device)
                    .to_kind(kind);
                (residual.square() * weights).sum(kind) / b.max(1) as f64
            }
        }
    }
}

/// The uniform backward policy of `state`: each distinct parent with `P_B = k / N`, for `k` of
/// the state's `N` in-edges coming from it (log probabilities). The losses use the same
/// [`uniform_log_pb`].
pub fn uniform_backward<E: Environment>(env: &E, state: &E::State) -> Vec<(E::State, f64)> {
    let parents = env.parents(state);
    let mut distinct: Vec<E::State> = Vec::new();
    for (parent, _) in &parents {
        if !distinct.contains(parent) {
            distinct.push(parent.clone());
        }
    }
    distinct.into_iter().map(|p| (p.clone(), uniform_log_pb(&parents, &p))).collect()
}

/// `log P_B(parent | state)` of the uniform backward policy, from the state's in-edges
/// `parents` (as [`Environment::parents`] lists them): the fraction of in-edges from `parent`.
pub fn uniform_log_pb<S: PartialEq>(parents: &[(S, crate::env::Action)], parent: &S) -> f64 {
    let from_parent = parents.iter().filter(|(p, _)| p == parent).count();
    (from_parent as f64 / parents.len() as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;
    use crate::trajectory::{Trajectory, rebuild};
    use tch::Kind;

    fn rebuilt(env: &Hypergrid, actions: Vec<u32>, log_reward: f64) -> RebuiltTrajectory<Vec<u16>> {
        rebuild(env, &Trajectory { actions, log_reward, ..Default::default() }).unwrap()
    }

    /// 1-D grid of height 3: [0] → [1] → [2] → stop, R = 2. Rows in order of appearance.
    /// Logits (increment, stop): [ln 3, 0], [0, 0], [5, 0] (increment masked at the top), so
    /// P_F = 3/4, 1/2, then stop with probability 1; P_B = 1 (one parent each).
    fn setup(state_flows: Option<[f32; 3]>) -> (Tensor, BalanceBatch<Vec<u16>>) {
        let env = Hypergrid::new(1, 3);
        let batch = prepare(&env, &[rebuilt(&env, vec![0, 0, 1], 2f64.ln())]);
        assert_eq!(batch.states, vec![vec![0], vec![1], vec![2]]);
        let mut rows = vec![3f32.ln(), 0.0, 0.0, 0.0, 5.0, 0.0];
        let width = if let Some(flows) = state_flows {
            rows = vec![rows[0], rows[1], flows[0], rows[2], rows[3], flows[1], rows[4], rows[5], flows[2]];
            3
        } else {
            2
        };
        (Tensor::from_slice(&rows).view([3, width]), batch)
    }

    fn uniform(balance: Balance) -> BalanceObjective {
        BalanceObjective::new(balance, BackwardPolicy::Uniform)
    }

    #[test]
    fn trajectory_balance_by_hand() {
        let (outputs, batch) = setup(None);
        let log_z = Tensor::from_slice(&[0.5f32]);
        let loss = uniform(Balance::Trajectory).loss(&outputs, &batch, Some(&log_z)).double_value(&[]);
        let expected = (0.5 + 0.75f64.ln() + 0.5f64.ln() + 0.0 - 2f64.ln()).powi(2);
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn the_log_reward_multiplier_scales_the_reward_term_of_every_balance_objective() {
        let m = 0.5;
        let scaled = |balance| BalanceObjective { log_reward_scale: m, ..uniform(balance) };
        let (outputs, batch) = setup(None);
        let log_z = Tensor::from_slice(&[0.5f32]);
        let tb = scaled(Balance::Trajectory).loss(&outputs, &batch, Some(&log_z)).double_value(&[]);
        let expected = (0.5 + 0.75f64.ln() + 0.5f64.ln() - m * 2f64.ln()).powi(2);
        assert!((tb - expected).abs() < 1e-5, "{tb} vs {expected}");
        let (outputs, batch) = setup(Some([1.0, 0.2, -0.3]));
        let db = scaled(Balance::Detailed).loss(&outputs, &batch, None).double_value(&[]);
        let terms = [(1.0 + 0.75f64.ln() - 0.2), (0.2 + 0.5f64.ln() + 0.3), (-0.3 - m * 2f64.ln())];
        let expected = terms.iter().map(|t| t * t).sum::<f64>() / 3.0;
        assert!((db - expected).abs() < 1e-5, "{db} vs {expected}");
        let whole =
            scaled(Balance::SubTrajectory { lambda: 1e6 }).loss(&outputs, &batch, None).double_value(&[]);
        let expected = (1.0 + 0.75f64.ln() + 0.5f64.ln() - m * 2f64.ln()).powi(2);
        assert!((whole - expected).abs() < 1e-3, "{whole} vs {expected}");
    }

    #[test]
    fn detailed_balance_by_hand() {
        let (outputs, batch) = setup(Some([1.0, 0.2, -0.3]));
        let loss = uniform(Balance::Detailed).loss(&outputs, &batch, None).double_value(&[]);
        let terms = [(1.0 + 0.75f64.ln() - 0.2), (0.2 + 0.5f64.ln() + 0.3), (-0.3 + 0.0 - 2f64.ln())];
        let expected = terms.iter().map(|t| t * t).sum::<f64>() / 3.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn sub_trajectory_balance_by_hand() {
        let (outputs, batch) = setup(Some([1.0, 0.2, -0.3]));
        let lambda = 0.9;
        let loss = uniform(Balance::SubTrajectory { lambda }).loss(&outputs, &batch, None).double_value(&[]);
        // nodes s0, s1, s2, ⊤ with log F = 1, 0.2, −0.3, log R; steps log P_F − log P_B
        let flows = [1.0, 0.2, -0.3, 2f64.ln()];
        let steps = [0.75f64.ln(), 0.5f64.ln(), 0.0];
        let (mut weighted, mut weights) = (0.0, 0.0);
        for i in 0..4 {
            for j in (i + 1)..4 {
                let residual = flows[i] + steps[i..j].iter().sum::<f64>() - flows[j];
                let w = lambda.powi((j - i) as i32);
                weighted += w * residual * residual;
                weights += w;
            }
        }
        let expected = weighted / weights;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        // λ → ∞ weighs the whole trajectory: the residual of (s0, ⊤) alone, i.e. TB with log Z = F(s0)
        let whole =
            uniform(Balance::SubTrajectory { lambda: 1e6 }).loss(&outputs, &batch, None).double_value(&[]);
        let tb = (1.0 + 0.75f64.ln() + 0.5f64.ln() - 2f64.ln()).powi(2);
        assert!((whole - tb).abs() < 1e-3, "{whole} vs {tb}");
    }

    #[test]
    fn uniform_backward_halves_between_two_parents_and_learned_backward_is_a_softmax() {
        let env = Hypergrid::new(2, 3);
        // [0,0] → [1,0] → [1,1] → stop: [1,1] has parents [0,1] and [1,0]
        let batch = prepare(&env, &[rebuilt(&env, vec![0, 1, 2], 0.0)]);
        assert_eq!(batch.states, vec![vec![0, 0], vec![1, 0], vec![1, 1]]);
        // all logits 0: P_F(increment) = 1/3 in each state, stop 1/3
        let zeros = Tensor::zeros([3, 3], (Kind::Float, tch::Device::Cpu));
        let log_z = Tensor::from_slice(&[0f32]);
        let tb = uniform(Balance::Trajectory).loss(&zeros, &batch, Some(&log_z)).double_value(&[]);
        let third = (1f64 / 3.0).ln();
        let expected = (3.0 * third - 0.0 - 0.5f64.ln()).powi(2);
        assert!((tb - expected).abs() < 1e-5, "{tb} vs {expected}");
        // learned: backward logits (columns 3..6) of [1,1] favour the edge from [1,0] (action 1)
        let mut rows = vec![0f32; 3 * 6];
        rows[2 * 6 + 3] = 0.0; // edge from [0,1] via action 0
        rows[2 * 6 + 3 + 1] = 2f32.ln(); // edge from [1,0] via action 1: P_B = 2/3
        let outputs = Tensor::from_slice(&rows).view([3, 6]);
        let learned = BalanceObjective::new(Balance::Trajectory, BackwardPolicy::Learned);
        let tb = learned.loss(&outputs, &batch, Some(&log_z)).double_value(&[]);
        let expected = (3.0 * third - (2f64 / 3.0).ln()).powi(2);
        assert!((tb - expected).abs() < 1e-5, "{tb} vs {expected}");
    }

    #[test]
    fn uniform_backward_probabilities_sum_to_one_over_parents() {
        let env = Hypergrid::new(3, 4);
        for state in [vec![1, 2, 3], vec![0, 0, 1], vec![3, 3, 3], vec![2, 0, 2]] {
            let total: f64 = uniform_backward(&env, &state).iter().map(|(_, l)| l.exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "{state:?}: {total}");
        }
        assert!(uniform_backward(&env, &vec![0, 0, 0]).is_empty());
    }

    #[test]
    fn a_batch_loss_is_the_mean_of_its_trajectories_losses() {
        let env = Hypergrid::new(2, 4);
        // outputs as a fixed function of the state: logits for (x+, y+, stop) and a state flow
        let outputs_for = |batch: &BalanceBatch<Vec<u16>>| {
            let rows: Vec<f32> = batch
                .states
                .iter()
                .flat_map(|s| {
                    let (x, y) = (s[0] as f32, s[1] as f32);
                    [0.1 * x, 0.2 * y - 0.3, 0.3 * (x + y), 0.5 * x - 0.1 * y + 1.0]
                })
                .collect();
            Tensor::from_slice(&rows).view([batch.states.len() as i64, 4])
        };
        let trajectories = [
            rebuilt(&env, vec![0, 1, 0, 1, 2], 1.5),
            rebuilt(&env, vec![2], -0.5),
            rebuilt(&env, vec![1, 1, 2], 0.25),
        ];
        // (detailed balance averages over transitions, not trajectories)
        for balance in [Balance::Trajectory, Balance::SubTrajectory { lambda: 0.9 }] {
            let objective = uniform(balance);
            let log_z = Tensor::from_slice(&[0.7f32]);
            let together = prepare(&env, &trajectories);
            let joint = objective.loss(&outputs_for(&together), &together, Some(&log_z)).double_value(&[]);
            let mean = trajectories
                .iter()
                .map(|t| {
                    let alone = prepare(&env, std::slice::from_ref(t));
                    objective.loss(&outputs_for(&alone), &alone, Some(&log_z)).double_value(&[])
                })
                .sum::<f64>()
                / 3.0;
            assert!((joint - mean).abs() < 1e-5, "{balance:?}: {joint} vs {mean}");
        }
    }
}
