//! Flow matching (Bengio et al., NeurIPS 2021, eq. 12; GFlowNet Foundations §3.2).
//!
//! The network outputs log edge flows `log F(s, a)` for every action, stop included. Stopping in
//! `s` moves to a terminal copy `⊤s` of `s` whose only in-edge is `(s, stop)` and whose out-flow is
//! the reward. Flow matching asks, for every non-initial node `s'` of the DAG,
//! in-flow = out-flow. With the paper's small `ε` inside both logarithms:
//!
//! * interior node `s'` (reached by a non-stop action):
//!   `L(s') = (log[ε + Σ_{(s,a): T(s,a)=s'} exp log F(s,a)] − log[ε + Σ_{a' ∈ A(s')} exp log F(s',a')])²`,
//!   where `A(s')` are the actions allowed in `s'`, stop included;
//! * terminal node `⊤x` (the end of every trajectory):
//!   `L(⊤x) = (log[ε + exp log F(x, stop)] − log[ε + R(x)])²`, i.e. the stop edge's flow must
//!   equal `R(x)`.
//!
//! With [`FlowMatching::sink_forced_terminals`], a terminal `x` whose only allowed action is
//! stop (fragments: `max_blocks` reached or no free stem) is a sink instead, as in the paper's
//! molecule code (GFNOrg/gflownet `mols/gflownet.py`): one terminal term
//! `L(x) = (log[ε + Σ_{(s,a): T(s,a)=x} exp log F(s,a)] − log[ε + R(x)])²` replaces its interior
//! term and its stop-edge term. Both have the same exact solutions (`F(x, stop)` is then free and
//! never sampled from); the sink puts the reward straight on the parents' edges.
//!
//! With [`FlowMatching::epsilon_warmup_updates`] `> 0`, the floor of update `t` rises
//! geometrically from [`FlowMatching::epsilon_start`] to `ε` over the first updates
//! ([`FlowMatching::at_update`]): while most sampled molecules are still below the final floor,
//! a lower one keeps their flows apart instead of letting every flow sink under `ε`, where the
//! loss no longer tells them apart (docs/FLOW_MATCHING.md, "The floor and early collapse").
//!
//! With [`FlowMatching::epsilon_log_z_threshold`] set, the floor follows the total flow down:
//! an update after one whose learned `log Z` (the out-flow of `s0` in its batch) fell below the
//! threshold `z₀` uses `ε · exp(log Z − z₀)` ([`FlowMatching::with_log_z`]), so the flows cannot
//! all sink under the floor together.
//!
//! With a [`FlowMatching::log_reward_warmup`], every trajectory's `log R` is multiplied by
//! [`FlowMatching::log_reward_scale`], which rises linearly to 1 over the first updates
//! ([`LogRewardWarmUp`]). For `R = s^β` a multiplier `m` trains on `s^(mβ)`: a flatter target
//! whose early rewards lie above the floor, sharpened to the configured `β` by the end of the
//! warm-up.
//!
//! The loss of a batch is the mean of these terms over every transition of every trajectory
//! (a node visited `k` times weighs `k`). Each `log[ε + Σ exp(·)]` is computed as a log-sum-exp
//! over the log flows together with the constant `log ε`, so no large number is exponentiated.
//! Every distinct state of the batch — visited states and the parents of visited states — is
//! evaluated by the network exactly once, in one forward pass.

use std::hash::Hash;

use rustc_hash::FxHashMap;
use tch::Tensor;

use super::LogRewardWarmUp;
use crate::env::Environment;
use crate::trajectory::RebuiltTrajectory;

/// The flow-matching objective with its `ε`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowMatching {
    /// The `ε > 0` (or 0) added inside every logarithm.
    pub epsilon: f64,
    /// How terms are averaged.
    pub weighting: TermWeighting,
    /// Factor on every terminal (leaf) term against the interior terms: the paper's
    /// `leaf_coef` (10 in its molecule runs; 1 weighs both kinds alike).
    pub leaf_weight: f64,
    /// Whether a terminal state where stop is the only allowed action is a sink whose in-flow
    /// is matched to the reward directly (the paper's molecule code), instead of an interior
    /// node followed by a learned stop edge.
    pub sink_forced_terminals: bool,
    /// The `ε` of the first update when [`FlowMatching::epsilon_warmup_updates`] `> 0`.
    pub epsilon_start: f64,
    /// Updates over which `ε` rises geometrically from `epsilon_start` to `epsilon`; 0: `ε`
    /// from the start.
    pub epsilon_warmup_updates: u64,
    /// When set (`z₀`), a learned `log Z` below it lowers the floor with it:
    /// `ε · exp(min(0, log Z − z₀))` (see [`FlowMatching::with_log_z`]).
    pub epsilon_log_z_threshold: Option<f64>,
    /// Multiplier on every trajectory's `log R` in this update's loss (1: the reward as given;
    /// [`FlowMatching::at_update`] sets it during a reward warm-up).
    pub log_reward_scale: f64,
    /// The schedule of that multiplier ([`LogRewardWarmUp::NONE`]: none).
    pub log_reward_warmup: LogRewardWarmUp,
}

impl FlowMatching {
    /// Flow matching with floor `epsilon` from the first update and the other settings at
    /// their defaults (balanced terms, leaf weight 1, no sinks).
    pub fn with_epsilon(epsilon: f64) -> Self {
        Self {
            epsilon,
            weighting: TermWeighting::Balanced,
            leaf_weight: 1.0,
            sink_forced_terminals: false,
            epsilon_start: epsilon,
            epsilon_warmup_updates: 0,
            epsilon_log_z_threshold: None,
            log_reward_scale: 1.0,
            log_reward_warmup: LogRewardWarmUp::NONE,
        }
    }

    /// The objective of an update that follows one whose learned `log Z` was `log_z` (`None`:
    /// not known, e.g. the first update): with a threshold `z₀` its `ε` is multiplied by
    /// `exp(min(0, log_z − z₀))`; otherwise (and for `log_z ≥ z₀`) it is unchanged.
    pub fn with_log_z(&self, log_z: Option<f64>) -> Self {
        match (self.epsilon_log_z_threshold, log_z) {
            (Some(threshold), Some(log_z)) if log_z < threshold && log_z.is_finite() => {
                Self { epsilon: self.epsilon * (log_z - threshold).exp(), ..*self }
            }
            _ => *self,
        }
    }

    /// The objective of update `update` (0 = the first): its `ε` is
    /// `epsilon_start^(1−f) · epsilon^f` with `f = update / epsilon_warmup_updates` during the
    /// floor's warm-up, `epsilon` after it (and always without a warm-up); its `log R`
    /// multiplier is [`LogRewardWarmUp::scale_at`] during the reward's warm-up, 1 after it, and
    /// unchanged without one.
    pub fn at_update(&self, update: u64) -> Self {
        self.epsilon_at_update(update).log_reward_at_update(update)
    }

    fn epsilon_at_update(&self, update: u64) -> Self {
        if update >= self.epsilon_warmup_updates || self.epsilon_start <= 0.0 || self.epsilon <= 0.0 {
            return Self { epsilon_start: self.epsilon, epsilon_warmup_updates: 0, ..*self };
        }
        let fraction = update as f64 / self.epsilon_warmup_updates as f64;
        let log_epsilon = (1.0 - fraction) * self.epsilon_start.ln() + fraction * self.epsilon.ln();
        Self { epsilon: log_epsilon.exp(), ..*self }
    }

    fn log_reward_at_update(&self, update: u64) -> Self {
        let (log_reward_scale, log_reward_warmup) =
            self.log_reward_warmup.apply_at(update, self.log_reward_scale);
        Self { log_reward_scale, log_reward_warmup, ..*self }
    }

    /// Term weights that sum to one (per kind of node, for [`TermWeighting::Balanced`]),
    /// terminal terms then multiplied by [`FlowMatching::leaf_weight`].
    fn normalized_weights<S>(&self, batch: &FlowMatchingBatch<S>) -> Vec<f32> {
        let total = |terminal: bool| -> f32 {
            batch.terms.iter().filter(|t| t.is_terminal == terminal).map(|t| t.weight).sum()
        };
        let (interior, terminal) = (total(false), total(true));
        let leaf = self.leaf_weight as f32;
        batch
            .terms
            .iter()
            .map(|t| {
                let share = match self.weighting {
                    TermWeighting::Transitions => t.weight / (interior + terminal),
                    TermWeighting::Balanced if t.is_terminal => t.weight / terminal,
                    TermWeighting::Balanced => t.weight / interior.max(1.0),
                };
                if t.is_terminal { share * leaf } else { share }
            })
            .collect()
    }
}

/// How the terms of a batch are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermWeighting {
    /// Mean over all transitions (the paper's grid code).
    Transitions,
    /// Mean over interior-node terms plus mean over terminal-node terms (torchgfn's
    /// `fm_loss + rm_loss`; the paper's later code calls it a balanced loss).
    #[default]
    Balanced,
}

/// One flow-matching term: a weighted pair of log-sum-exp index lists.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    weight: f32,
    is_terminal: bool,
    in_flow: Vec<Entry>,
    out_flow: Vec<Entry>,
}

/// One addend of a log-sum-exp: a network output or a constant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Entry {
    /// `log F(states[row], action)`.
    Flow { row: usize, action: usize },
    /// `constants[index]`.
    Constant(usize),
}

/// Index of `log ε` in the constants.
const LOG_EPSILON: usize = 0;
/// Index of `−∞` (padding) in the constants.
const NEG_INFINITY: usize = 1;

/// A batch prepared for the flow-matching loss: the distinct states to evaluate and the
/// gather indices that turn their log flows into in- and out-flows.
#[derive(Debug)]
pub struct FlowMatchingBatch<S> {
    /// Every distinct state whose log flows the loss needs, in evaluation order.
    pub states: Vec<S>,
    num_actions: usize,
    constants: Vec<f32>,
    terms: Vec<Term>,
    /// Flat indices `row · num_actions + action` of the allowed actions of `s0`, if `s0` is in
    /// the batch (it starts every trajectory).
    initial_out_flow: Vec<i64>,
}

impl<S: Clone + Eq + Hash> FlowMatchingBatch<S> {
    /// Number of loss terms (distinct interior and terminal nodes).
    pub fn num_terms(&self) -> usize {
        self.terms.len()
    }

    /// The learned `log Z` the batch's log flows imply: the log-sum-exp of the allowed
    /// out-flows of `s0` (no gradient), or `None` if `s0` is not among the batch's states.
    pub fn log_partition(&self, log_flows: &Tensor) -> Option<f64> {
        if self.initial_out_flow.is_empty() {
            return None;
        }
        let _no_grad = tch::no_grad_guard();
        let index = Tensor::from_slice(&self.initial_out_flow).to_device(log_flows.device());
        Some(log_flows.reshape([-1]).index_select(0, &index).logsumexp([0], false).double_value(&[]))
    }

    /// Sum of the term weights: the number of transitions in the batch.
    pub fn num_transitions(&self) -> f32 {
        self.terms.iter().map(|t| t.weight).sum()
    }

    /// Flattened gather indices `[terms, width]` into `cat(log_flows.view(-1), constants)`,
    /// padded with the index of `−∞`.
    fn gather_index(&self, side: impl Fn(&Term) -> &[Entry]) -> Tensor {
        let width = self.terms.iter().map(|t| side(t).len()).max().unwrap_or(1);
        let flow_values = (self.states.len() * self.num_actions) as i64;
        let resolve = |entry: &Entry| match *entry {
            Entry::Flow { row, action } => (row * self.num_actions + action) as i64,
            Entry::Constant(index) => flow_values + index as i64,
        };
        let padding = flow_values + NEG_INFINITY as i64;
        let mut index = Vec::with_capacity(self.terms.len() * width);
        for term in &self.terms {
            let entries = side(term);
            index.extend(entries.iter().map(resolve));
            index.extend(std::iter::repeat_n(padding, width - entries.len()));
        }
        Tensor::from_slice(&index).view([self.terms.len() as i64, width as i64])
    }
}

impl FlowMatching {
    /// Collects the distinct states and the loss terms of `trajectories`.
    pub fn prepare<E: Environment>(
        &self,
        env: &E,
        trajectories: &[RebuiltTrajectory<E::State>],
    ) -> FlowMatchingBatch<E::State> {
        let num_actions = env.num_actions();
        let stop = env.stop_action() as usize;
        let mut rows: FxHashMap<E::State, usize> = FxHashMap::default();
        let mut states: Vec<E::State> = Vec::new();
        let mut row_of = |state: &E::State, states: &mut Vec<E::State>| -> usize {
            *rows.entry(state.clone()).or_insert_with(|| {
                states.push(state.clone());
                states.len() - 1
            })
        };
        // Distinct terms keyed by (row, is_terminal); weights count the visits.
        let mut term_of: FxHashMap<(usize, bool), usize> = FxHashMap::default();
        let mut visits: Vec<Visit> = Vec::new();
        let mut mask = vec![false; num_actions];
        let is_sink = |state: &E::State, mask: &mut [bool]| -> bool {
            self.sink_forced_terminals && {
                env.forward_mask(state, mask);
                mask.iter().enumerate().all(|(a, &allowed)| allowed == (a == stop))
            }
        };
        for trajectory in trajectories {
            for (t, state) in trajectory.states.iter().enumerate() {
                let row = row_of(state, &mut states);
                let is_terminal_copy = t + 1 == trajectory.states.len();
                let sink = is_terminal_copy && t > 0 && is_sink(state, &mut mask);
                if t > 0 && !sink {
                    add_visit(&mut term_of, &mut visits, (row, false), 0.0, false);
                }
                if is_terminal_copy {
                    let log_reward = (trajectory.log_reward * self.log_reward_scale) as f32;
                    add_visit(&mut term_of, &mut visits, (row, true), log_reward, sink);
                }
            }
        }
        let mut constants = vec![self.epsilon.ln() as f32, f32::NEG_INFINITY];
        let mut terms = Vec::with_capacity(visits.len());
        let mut parents_in_flow = |row: usize, states: &mut Vec<E::State>| -> Vec<Entry> {
            let state = states[row].clone();
            let mut in_flow = vec![Entry::Constant(LOG_EPSILON)];
            for (parent, action) in env.parents(&state) {
                let parent_row = row_of(&parent, states);
                in_flow.push(Entry::Flow { row: parent_row, action: action as usize });
            }
            in_flow
        };
        for &Visit { row, is_terminal, weight, log_reward, sink } in &visits {
            let log_epsilon = Entry::Constant(LOG_EPSILON);
            let term = if is_terminal {
                constants.push(log_reward);
                let in_flow = if sink {
                    parents_in_flow(row, &mut states)
                } else {
                    vec![log_epsilon, Entry::Flow { row, action: stop }]
                };
                Term {
                    weight,
                    is_terminal: true,
                    in_flow,
                    out_flow: vec![log_epsilon, Entry::Constant(constants.len() - 1)],
                }
            } else {
                let in_flow = parents_in_flow(row, &mut states);
                let state = &states[row];
                env.forward_mask(state, &mut mask);
                let mut out_flow = vec![log_epsilon];
                out_flow
                    .extend((0..num_actions).filter(|&a| mask[a]).map(|action| Entry::Flow { row, action }));
                Term { weight, is_terminal: false, in_flow, out_flow }
            };
            terms.push(term);
        }
        let initial_out_flow = match rows.get(&env.initial_state()) {
            Some(&row) => {
                env.forward_mask(&states[row], &mut mask);
                (0..num_actions).filter(|&a| mask[a]).map(|a| (row * num_actions + a) as i64).collect()
            }
            None => Vec::new(),
        };
        FlowMatchingBatch { states, num_actions, constants, terms, initial_out_flow }
    }

    /// The flow-matching loss of `batch`, given `log_flows` of shape `[states, num_actions]`
    /// for `batch.states` in order. Differentiable with respect to `log_flows`.
    ///
    /// # Panics
    /// If `log_flows` does not have shape `[batch.states.len(), num_actions]`.
    pub fn loss<S: Clone + Eq + Hash>(&self, log_flows: &Tensor, batch: &FlowMatchingBatch<S>) -> Tensor {
        let expected = [batch.states.len() as i64, batch.num_actions as i64];
        assert_eq!(log_flows.size(), expected, "log_flows shape mismatch: expected {expected:?}");
        let device = log_flows.device();
        let kind = log_flows.kind();
        let constants = Tensor::from_slice(&batch.constants).to_device(device).to_kind(kind);
        let values = Tensor::cat(&[log_flows.reshape([-1]), constants], 0);
        let side = |index: Tensor| {
            let shape = index.size();
            values
                .index_select(0, &index.reshape([-1]).to_device(device))
                .view(shape.as_slice())
                .logsumexp([1], false)
        };
        let log_in_flow = side(batch.gather_index(|t| &t.in_flow));
        let log_out_flow = side(batch.gather_index(|t| &t.out_flow));
        let weights = Tensor::from_slice(&self.normalized_weights(batch)).to_device(device).to_kind(kind);
        ((log_in_flow - log_out_flow).square() * &weights).sum(kind)
    }
}

/// A distinct node of the batch's DAG and how often transitions reached it.
#[derive(Debug, Clone, Copy)]
struct Visit {
    row: usize,
    is_terminal: bool,
    weight: f32,
    /// `log R(x)` for a terminal node (the first record's value), unused otherwise.
    log_reward: f32,
    /// A terminal node that is a sink ([`FlowMatching::sink_forced_terminals`]): its in-flow
    /// is its parents' edges, not its stop edge.
    sink: bool,
}

/// Counts one visit of `key = (row, is_terminal)`, creating its node on first sight.
fn add_visit(
    term_of: &mut FxHashMap<(usize, bool), usize>,
    visits: &mut Vec<Visit>,
    key: (usize, bool),
    log_reward: f32,
    sink: bool,
) {
    let index = *term_of.entry(key).or_insert_with(|| {
        visits.push(Visit { row: key.0, is_terminal: key.1, weight: 0.0, log_reward, sink });
        visits.len() - 1
    });
    visits[index].weight += 1.0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;
    use crate::trajectory::{Trajectory, rebuild};
    use tch::Kind;

    fn log_sum_exp(values: &[f64]) -> f64 {
        values.iter().map(|v| v.exp()).sum::<f64>().ln()
    }

    /// 1-D grid with H = 3: states 0, 1, 2; action 0 increments, action 1 stops.
    #[test]
    fn loss_matches_a_hand_computed_example() {
        let grid = Hypergrid::new(1, 3);
        let epsilon: f64 = 0.01;
        let objective =
            FlowMatching { weighting: TermWeighting::Transitions, ..FlowMatching::with_epsilon(epsilon) };
        let (r1, r2) = (0.7f64, 1.3f64);
        let trajectories = vec![
            rebuild(&grid, &Trajectory { actions: vec![0, 1], log_reward: r1.ln(), ..Default::default() })
                .unwrap(),
            rebuild(&grid, &Trajectory { actions: vec![0, 0, 1], log_reward: r2.ln(), ..Default::default() })
                .unwrap(),
        ];
        let batch = objective.prepare(&grid, &trajectories);
        // states in first-seen order: [0], [1], [2]
        assert_eq!(batch.states, vec![vec![0], vec![1], vec![2]]);
        // log F(s, increment), log F(s, stop) per state
        let f = [[0.2f64, -0.5], [0.4, 0.1], [-3.0, -0.3]];
        let log_flows = Tensor::from_slice(&f.concat()).view([3, 2]).to_kind(Kind::Float);
        // the batch's learned log Z: the out-flows of s0 = [0], increment and stop
        let log_z = batch.log_partition(&log_flows).unwrap();
        assert!((log_z - log_sum_exp(&[f[0][0], f[0][1]])).abs() < 1e-6, "{log_z}");
        let loss = objective.loss(&log_flows, &batch).double_value(&[]);

        let e = epsilon.ln();
        // interior node [1], visited twice: parent ([0], inc); out: inc and stop of [1]
        let interior_1 = (log_sum_exp(&[e, f[0][0]]) - log_sum_exp(&[e, f[1][0], f[1][1]])).powi(2);
        // terminal ⊤[1], once: stop flow of [1] vs R1
        let terminal_1 = (log_sum_exp(&[e, f[1][1]]) - log_sum_exp(&[e, r1.ln()])).powi(2);
        // interior node [2], once: parent ([1], inc); out: only stop (increment is masked)
        let interior_2 = (log_sum_exp(&[e, f[1][0]]) - log_sum_exp(&[e, f[2][1]])).powi(2);
        let terminal_2 = (log_sum_exp(&[e, f[2][1]]) - log_sum_exp(&[e, r2.ln()])).powi(2);
        let expected = (2.0 * interior_1 + terminal_1 + interior_2 + terminal_2) / 5.0;
        assert!((loss - expected).abs() < 1e-5, "loss {loss} expected {expected}");
        // balanced: mean over the 3 interior transitions plus mean over the 2 terminal ones
        let balanced = FlowMatching::with_epsilon(epsilon);
        let loss = balanced.loss(&log_flows, &batch).double_value(&[]);
        let expected = (2.0 * interior_1 + interior_2) / 3.0 + (terminal_1 + terminal_2) / 2.0;
        assert!((loss - expected).abs() < 1e-5, "balanced loss {loss} expected {expected}");
        // the paper's leaf_coef: the terminal mean weighs 10 times the interior mean
        let leafy = FlowMatching { leaf_weight: 10.0, ..balanced };
        let loss = leafy.loss(&log_flows, &batch).double_value(&[]);
        let expected = (2.0 * interior_1 + interior_2) / 3.0 + 10.0 * (terminal_1 + terminal_2) / 2.0;
        assert!((loss - expected).abs() < 1e-4, "leaf-weighted loss {loss} expected {expected}");
        assert_eq!(batch.num_terms(), 4);
        assert_eq!(batch.num_transitions(), 5.0);

        // [2] allows only stop: as a sink, its parents' edge meets R2 in one terminal term
        // that replaces interior_2 and terminal_2 (the stop flow of [2] is no longer used)
        let sink = FlowMatching { sink_forced_terminals: true, ..objective };
        let sink_batch = sink.prepare(&grid, &trajectories);
        assert_eq!(sink_batch.num_terms(), 3);
        assert_eq!(sink_batch.num_transitions(), 4.0);
        let sink_2 = (log_sum_exp(&[e, f[1][0]]) - log_sum_exp(&[e, r2.ln()])).powi(2);
        let loss = sink.loss(&log_flows, &sink_batch).double_value(&[]);
        let expected = (2.0 * interior_1 + terminal_1 + sink_2) / 4.0;
        assert!((loss - expected).abs() < 1e-5, "sink loss {loss} expected {expected}");
        let mut moved = f;
        moved[2][1] += 5.0;
        let moved = Tensor::from_slice(&moved.concat()).view([3, 2]).to_kind(Kind::Float);
        let unchanged = sink.loss(&moved, &sink_batch).double_value(&[]);
        assert!((unchanged - expected).abs() < 1e-5, "the sink's stop flow must not matter: {unchanged}");
        let balanced_sink = FlowMatching { weighting: TermWeighting::Balanced, leaf_weight: 10.0, ..sink };
        let loss = balanced_sink.loss(&log_flows, &sink_batch).double_value(&[]);
        let expected = 2.0 * interior_1 / 2.0 + 10.0 * (terminal_1 + sink_2) / 2.0;
        assert!((loss - expected).abs() < 1e-4, "balanced sink loss {loss} expected {expected}");
    }

    #[test]
    fn exact_flows_give_zero_loss() {
        // 1-D grid H = 2 with R([0]) = 1, R([1]) = 2 and ε = 0: the flows F([0], inc) = 2,
        // F([0], stop) = 1, F([1], stop) = 2 satisfy flow matching exactly.
        let grid = Hypergrid::new(1, 2);
        let objective = FlowMatching::with_epsilon(0.0);
        let trajectories = vec![
            rebuild(&grid, &Trajectory { actions: vec![0, 1], log_reward: 2f64.ln(), ..Default::default() })
                .unwrap(),
            rebuild(&grid, &Trajectory { actions: vec![1], log_reward: 0.0, ..Default::default() }).unwrap(),
        ];
        let batch = objective.prepare(&grid, &trajectories);
        assert_eq!(batch.states, vec![vec![0], vec![1]]);
        let log_flows = Tensor::from_slice(&[2f32.ln(), 0.0, 123.0, 2f32.ln()]).view([2, 2]);
        let loss = objective.loss(&log_flows, &batch).double_value(&[]);
        assert!(loss.abs() < 1e-10, "loss {loss}");
        // [1] allows only stop: as a sink the same flows are exact, whatever F([1], stop) is
        let sink = FlowMatching { sink_forced_terminals: true, ..objective };
        let sink_batch = sink.prepare(&grid, &trajectories);
        let any_stop_flow = Tensor::from_slice(&[2f32.ln(), 0.0, 123.0, -7.0]).view([2, 2]);
        let loss = sink.loss(&any_stop_flow, &sink_batch).double_value(&[]);
        assert!(loss.abs() < 1e-10, "sink loss {loss}");
    }

    #[test]
    fn the_floor_rises_geometrically_during_its_warm_up_and_stays_after_it() {
        let warmed = FlowMatching {
            epsilon_start: 1e-6,
            epsilon_warmup_updates: 100,
            ..FlowMatching::with_epsilon(1e-4)
        };
        let at = |update| warmed.at_update(update).epsilon;
        assert!((at(0) - 1e-6).abs() < 1e-15, "{}", at(0));
        assert!((at(50) - 1e-5).abs() < 1e-12, "halfway is the geometric mean: {}", at(50));
        assert!((at(25) - 10f64.powf(-5.5)).abs() < 1e-12, "{}", at(25));
        assert!(at(99) < 1e-4 && at(99) > at(98), "{} {}", at(98), at(99));
        for update in [100, 101, 10_000] {
            assert_eq!(at(update), 1e-4);
        }
        // without a warm-up every update uses ε
        let plain = FlowMatching::with_epsilon(1e-4);
        assert_eq!(plain.at_update(0), plain);
        assert_eq!(plain.at_update(7).epsilon, 1e-4);
    }

    #[test]
    fn a_learned_log_z_below_the_threshold_lowers_the_floor_with_it() {
        let tracking =
            FlowMatching { epsilon_log_z_threshold: Some(0.0), ..FlowMatching::with_epsilon(1e-4) };
        let epsilon = |log_z| tracking.with_log_z(log_z).epsilon;
        assert!((epsilon(Some(-3.0)) - 1e-4 * (-3.0f64).exp()).abs() < 1e-15, "{}", epsilon(Some(-3.0)));
        assert!((epsilon(Some(-10.0)) - 1e-4 * (-10.0f64).exp()).abs() < 1e-18);
        for unchanged in [Some(0.0), Some(2.5), None, Some(f64::NAN), Some(f64::NEG_INFINITY)] {
            assert_eq!(epsilon(unchanged), 1e-4, "{unchanged:?}");
        }
        // without a threshold, log Z never matters
        let plain = FlowMatching::with_epsilon(1e-4);
        assert_eq!(plain.with_log_z(Some(-30.0)), plain);
        // it composes with the warm-up: the scheduled floor is scaled
        let both = FlowMatching { epsilon_start: 1e-6, epsilon_warmup_updates: 10, ..tracking };
        let scaled = both.at_update(0).with_log_z(Some(-1.0)).epsilon;
        assert!((scaled - 1e-6 * (-1.0f64).exp()).abs() < 1e-15, "{scaled}");
    }

    #[test]
    fn the_warm_up_floor_is_the_one_the_loss_uses() {
        // stop at s0 with R = 0.5 and log F(s0, stop) = 0: the only term is the terminal one,
        // (log(ε + 1) − log(ε + 0.5))², which depends on ε
        let grid = Hypergrid::new(1, 3);
        let stop =
            Trajectory { actions: vec![grid.stop_action()], log_reward: 0.5f64.ln(), ..Default::default() };
        let trajectories = vec![rebuild(&grid, &stop).unwrap()];
        let warmed = FlowMatching {
            epsilon_start: 0.5,
            epsilon_warmup_updates: 10,
            ..FlowMatching::with_epsilon(1e-3)
        };
        let loss_at = |update: u64| {
            let objective = warmed.at_update(update);
            let batch = objective.prepare(&grid, &trajectories);
            let log_flows = Tensor::zeros(
                [batch.states.len() as i64, grid.num_actions() as i64],
                (Kind::Float, tch::Device::Cpu),
            );
            objective.loss(&log_flows, &batch).double_value(&[])
        };
        let term = |epsilon: f64| ((epsilon + 1.0).ln() - (epsilon + 0.5).ln()).powi(2);
        assert!((loss_at(0) - term(0.5)).abs() < 1e-6, "{} vs {}", loss_at(0), term(0.5));
        assert!((loss_at(10) - term(1e-3)).abs() < 1e-6, "{} vs {}", loss_at(10), term(1e-3));
        assert!(
            loss_at(0) < loss_at(5) && loss_at(5) < loss_at(10),
            "a lower floor shows more of the mismatch"
        );
    }

    #[test]
    fn the_log_reward_multiplier_rises_linearly_during_its_warm_up_and_is_one_after_it() {
        let warmed = FlowMatching {
            log_reward_warmup: LogRewardWarmUp::new(Some(0.25), 100),
            ..FlowMatching::with_epsilon(1e-4)
        };
        let at = |update| warmed.at_update(update).log_reward_scale;
        assert_eq!(at(0), 0.25);
        assert!((at(50) - 0.625).abs() < 1e-12, "{}", at(50));
        assert!(at(99) < 1.0 && at(99) > at(98), "{} {}", at(98), at(99));
        for update in [100, 101, 10_000] {
            assert_eq!(at(update), 1.0);
        }
        // the floor's schedule is untouched by it, and the two compose
        assert_eq!(warmed.at_update(3).epsilon, 1e-4);
        let both = FlowMatching { epsilon_start: 1e-6, epsilon_warmup_updates: 100, ..warmed };
        let halfway = both.at_update(50);
        assert!((halfway.epsilon - 1e-5).abs() < 1e-12 && (halfway.log_reward_scale - 0.625).abs() < 1e-12);
        // without a warm-up the multiplier is whatever it was
        let plain = FlowMatching { log_reward_scale: 0.5, ..FlowMatching::with_epsilon(1e-4) };
        assert_eq!(plain.at_update(7), plain);
    }

    #[test]
    fn the_loss_matches_the_stop_flow_to_the_scaled_log_reward() {
        // stop at s0 with log R = −6: with ε = 0 the only term is (log F(s0, stop) − m · log R)²,
        // so log F = −3 is exact at m = 0.5 and off by 3 at m = 1
        let grid = Hypergrid::new(1, 3);
        let stop = Trajectory { actions: vec![grid.stop_action()], log_reward: -6.0, ..Default::default() };
        let trajectories = vec![rebuild(&grid, &stop).unwrap()];
        let warmed = FlowMatching {
            log_reward_warmup: LogRewardWarmUp::new(Some(0.5), 4),
            ..FlowMatching::with_epsilon(0.0)
        };
        let loss_at = |update: u64| {
            let objective = warmed.at_update(update);
            let batch = objective.prepare(&grid, &trajectories);
            let mut log_flows = vec![0f32; batch.states.len() * grid.num_actions()];
            log_flows[grid.stop_action() as usize] = -3.0;
            let log_flows =
                Tensor::from_slice(&log_flows).view([batch.states.len() as i64, grid.num_actions() as i64]);
            objective.loss(&log_flows, &batch).double_value(&[])
        };
        assert!(loss_at(0).abs() < 1e-10, "exact at m = 0.5: {}", loss_at(0));
        // m = 0.75 at update 2: (−3 + 4.5)² = 2.25; m = 1 from update 4: (−3 + 6)² = 9
        assert!((loss_at(2) - 2.25).abs() < 1e-5, "{}", loss_at(2));
        assert!((loss_at(4) - 9.0).abs() < 1e-5, "{}", loss_at(4));
    }

    #[test]
    fn parents_that_were_not_visited_are_evaluated_once() {
        let grid = Hypergrid::new(2, 3);
        let objective = FlowMatching::with_epsilon(1e-4);
        let trajectory = Trajectory { actions: vec![0, 1, 2], log_reward: 0.0, ..Default::default() };
        let rebuilt = rebuild(&grid, &trajectory).unwrap();
        let batch = objective.prepare(&grid, &[rebuilt.clone(), rebuilt]);
        // visited [0,0], [1,0], [1,1]; parent [0,1] of [1,1] was not visited
        assert_eq!(batch.states, vec![vec![0, 0], vec![1, 0], vec![1, 1], vec![0, 1]]);
        assert_eq!(batch.num_transitions(), 6.0);
    }
}
