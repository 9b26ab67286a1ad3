//! The graph policy of the fragment environment: message passing over the junction tree's
//! blocks, per-stem log flows over every block that can be attached, and a stop log flow.
//!
//! Blocks are embedded by class; a bond's message carries the embeddings of the attachment
//! atoms at both of its ends. Two message-passing cores ([`MessagePassing`]):
//! * `residual`: `rounds` rounds, each with its own weights: the message of a bond is a linear
//!   map of the source state and both attachment embeddings, aggregated by mean, and the node
//!   state gets a residual update;
//! * `gru`: the paper's network (GFNOrg/gflownet `mols/model_block.py`, version v4): an MLP
//!   embeds each block, then `rounds` steps of one shared edge-conditioned convolution
//!   (NNConv, mean aggregation) whose edge matrix is the outer product of the two attachment
//!   embeddings — so a message is `(x_source · a_source) a_target` — plus a root weight,
//!   followed by one shared GRU cell.
//!
//! Each stem then reads its block's state, its attachment atom and the graph's mean state and
//! outputs `B` log flows; the graph's mean state gives the stop log flow. Outputs are
//! scattered into the environment's flat action space (`slot · B + block`, stop last); actions
//! that do not exist in a state get 0 and are masked by the caller.

use tch::{Kind, Tensor, nn};

use super::input::{BlockGraphBatch, BlockGraphShape};
pub use crate::config::MessagePassing;

/// The block-graph network.
#[derive(Debug)]
pub struct BlockGraphNet {
    shape: BlockGraphShape,
    node_embedding: nn::Embedding,
    attachment_embedding: nn::Embedding,
    rounds: Vec<Round>,
    gru: Option<GruCore>,
    stem_hidden: nn::Linear,
    stem_output: nn::Linear,
    stop_hidden: nn::Linear,
    stop_output: nn::Linear,
    state_flow: bool,
    conditioning: Option<Conditioning>,
    /// Projects each graph's continuous condition features onto its nodes' embeddings.
    condition_features: Option<nn::Linear>,
}

/// The parameters a conditioned environment adds.
#[derive(Debug)]
struct Conditioning {
    /// `K + 1` rows: one per condition and one for the root.
    embedding: nn::Embedding,
    /// The root's choice of a condition.
    choice_output: nn::Linear,
}

#[derive(Debug)]
struct Round {
    message: nn::Linear,
    update: nn::Linear,
}

/// The paper's core: a block MLP, one NNConv and one GRU cell shared by every step.
#[derive(Debug)]
struct GruCore {
    steps: usize,
    block_hidden: nn::Linear,
    block_output: nn::Linear,
    root: nn::Linear,
    input_gates: nn::Linear,
    hidden_gates: nn::Linear,
}

impl GruCore {
    fn new(path: &nn::Path, h: i64, steps: usize) -> Self {
        let linear = |p: nn::Path, i: i64, o: i64| nn::linear(p, i, o, Default::default());
        Self {
            steps,
            block_hidden: linear(path / "block" / "hidden", h, h),
            block_output: linear(path / "block" / "output", h, h),
            root: linear(path / "conv" / "root", h, h),
            input_gates: linear(path / "gru" / "input", h, 3 * h),
            hidden_gates: linear(path / "gru" / "hidden", h, 3 * h),
        }
    }

    /// Node states after every step; `source_attachment` and `target_attachment` are the
    /// embeddings of each directed edge's attachment atoms, `in_degree` `[N, 1]` (at least 1).
    fn forward(
        &self,
        x: Tensor,
        batch: &BlockGraphBatch,
        source_attachment: &Tensor,
        target_attachment: &Tensor,
        in_degree: &Tensor,
    ) -> Tensor {
        let mut out = x.apply(&self.block_hidden).leaky_relu().apply(&self.block_output);
        let mut hidden = out.shallow_clone();
        let num_edges = batch.edge_source.size()[0];
        for _ in 0..self.steps {
            let mut convolved = out.apply(&self.root);
            if num_edges > 0 {
                let source = out.index_select(0, &batch.edge_source);
                let weight = (source * source_attachment).sum_dim_intlist([1i64].as_slice(), true, None);
                let messages = weight * target_attachment;
                convolved += out.zeros_like().index_add(0, &batch.edge_target, &messages) / in_degree;
            }
            let message = convolved.leaky_relu();
            hidden = message.gru_cell(
                &hidden,
                &self.input_gates.ws,
                &self.hidden_gates.ws,
                self.input_gates.bs.as_ref(),
                self.hidden_gates.bs.as_ref(),
            );
            out = hidden.shallow_clone();
        }
        out
    }
}

impl BlockGraphNet {
    /// Creates the parameters under `path`: embeddings of width `hidden`, `rounds` message
    /// passing rounds; with `state_flow`, one more output (column `num_actions`): the state's
    /// log flow, from the same head as stop.
    pub fn new(
        path: &nn::Path,
        shape: BlockGraphShape,
        hidden: usize,
        rounds: usize,
        state_flow: bool,
        message_passing: MessagePassing,
    ) -> Self {
        let h = hidden as i64;
        let linear = |p: nn::Path, i: i64, o: i64| nn::linear(p, i, o, Default::default());
        let (residual_rounds, gru) = match message_passing {
            MessagePassing::Residual => (rounds, None),
            MessagePassing::Gru => (0, Some(GruCore::new(&(path / "core"), h, rounds))),
        };
        Self {
            shape,
            node_embedding: nn::embedding(
                path / "node_embedding",
                shape.node_types as i64,
                h,
                Default::default(),
            ),
            attachment_embedding: nn::embedding(
                path / "attachment_embedding",
                shape.attachment_types as i64,
                h,
                Default::default(),
            ),
            gru,
            rounds: (0..residual_rounds)
                .map(|i| {
                    let round = path / format!("round{i}");
                    Round {
                        message: linear(&round / "message", 2 * h, h),
                        update: linear(&round / "update", 2 * h, h),
                    }
                })
                .collect(),
            stem_hidden: linear(path / "stem" / "hidden", 3 * h, h),
            stem_output: linear(path / "stem" / "output", h, shape.blocks_per_stem as i64),
            stop_hidden: linear(path / "stop" / "hidden", h, h),
            stop_output: linear(path / "stop" / "output", h, 1 + i64::from(state_flow)),
            state_flow,
            conditioning: (shape.conditions > 0).then(|| {
                let k = shape.conditions as i64;
                Conditioning {
                    embedding: nn::embedding(path / "condition_embedding", k + 1, h, Default::default()),
                    choice_output: linear(path / "condition" / "output", h, k),
                }
            }),
            condition_features: (shape.condition_features > 0)
                .then(|| linear(path / "condition_features", shape.condition_features as i64, h)),
        }
    }

    /// The device of the parameters.
    pub fn device(&self) -> tch::Device {
        self.node_embedding.ws.device()
    }

    /// Log flows `[graphs, num_actions]` of a batch.
    pub fn forward(&self, batch: &BlockGraphBatch) -> Tensor {
        let device = self.device();
        let options = (self.node_embedding.ws.kind(), device);
        let num_nodes = batch.node_types.size()[0];
        let embedded = batch.node_types.apply(&self.node_embedding);
        let mut x = match &self.conditioning {
            Some(conditioning) => {
                let condition =
                    batch.condition.as_ref().expect("a conditioned network needs each graph's condition");
                embedded + condition.index_select(0, &batch.node_graph).apply(&conditioning.embedding)
            }
            None => embedded,
        };
        if let Some(projection) = &self.condition_features {
            let features = batch
                .condition_features
                .as_ref()
                .expect("a preference-conditioned network needs each graph's condition features");
            x += features.to_kind(options.0).apply(projection).index_select(0, &batch.node_graph);
        }
        let hidden = x.size()[1];
        let source_attachment = batch.edge_source_attachment.apply(&self.attachment_embedding);
        let target_attachment = batch.edge_target_attachment.apply(&self.attachment_embedding);
        let num_edges = batch.edge_source.size()[0];
        let in_degree = Tensor::zeros([num_nodes], options)
            .index_add(0, &batch.edge_target, &Tensor::ones([num_edges], options))
            .clamp_min(1.0)
            .unsqueeze(1);
        if let Some(gru) = &self.gru {
            x = gru.forward(x, batch, &source_attachment, &target_attachment, &in_degree);
        }
        let edge_context =
            if self.rounds.is_empty() { source_attachment } else { source_attachment + target_attachment };
        for round in &self.rounds {
            if num_edges > 0 {
                let source = x.index_select(0, &batch.edge_source);
                let messages = Tensor::cat(&[&source, &edge_context], 1).apply(&round.message).leaky_relu();
                let aggregated =
                    Tensor::zeros([num_nodes, hidden], options).index_add(0, &batch.edge_target, &messages)
                        / &in_degree;
                x = &x + Tensor::cat(&[&x, &aggregated], 1).apply(&round.update).leaky_relu();
            } else {
                let aggregated = Tensor::zeros([num_nodes, hidden], options);
                x = &x + Tensor::cat(&[&x, &aggregated], 1).apply(&round.update).leaky_relu();
            }
        }
        let nodes_per_graph = Tensor::zeros([batch.num_graphs], options)
            .index_add(0, &batch.node_graph, &Tensor::ones([num_nodes], options))
            .clamp_min(1.0)
            .unsqueeze(1);
        let pooled = Tensor::zeros([batch.num_graphs, hidden], options).index_add(0, &batch.node_graph, &x)
            / nodes_per_graph;
        let num_actions = self.shape.num_actions() as i64;
        let width = num_actions + i64::from(self.state_flow);
        let blocks = self.shape.blocks_per_stem as i64;
        let mut output = Tensor::zeros([batch.num_graphs * width], options);
        let row_start = Tensor::arange(batch.num_graphs, (Kind::Int64, device)) * width;
        let num_stems = batch.stem_node.size()[0];
        if num_stems > 0 {
            let stem_graph = batch.node_graph.index_select(0, &batch.stem_node);
            let stem_input = Tensor::cat(
                &[
                    x.index_select(0, &batch.stem_node),
                    batch.stem_attachment.apply(&self.attachment_embedding),
                    pooled.index_select(0, &stem_graph),
                ],
                1,
            );
            let stem_flows = stem_input.apply(&self.stem_hidden).leaky_relu().apply(&self.stem_output);
            let first = stem_graph * width + &batch.stem_action;
            let index =
                (first.unsqueeze(1) + Tensor::arange(blocks, (Kind::Int64, device)).unsqueeze(0)).view([-1]);
            output = output.index_put(&[Some(index)], &stem_flows.view([-1]), false);
        }
        let head = pooled.apply(&self.stop_hidden).leaky_relu();
        let heads = head.apply(&self.stop_output);
        let stop_index = &row_start + self.shape.stop_action() as i64;
        output = output.index_put(&[Some(stop_index)], &heads.select(1, 0), false);
        if let Some(conditioning) = &self.conditioning {
            // the root's choices, right after stop; other graphs cannot choose and get 0
            let k = self.shape.conditions as i64;
            let condition = batch.condition.as_ref().expect("checked above");
            let at_root = condition.eq(k).to_kind(options.0).unsqueeze(1);
            let choices = head.apply(&conditioning.choice_output) * at_root;
            let first = &row_start + self.shape.stop_action() as i64 + 1;
            let index =
                (first.unsqueeze(1) + Tensor::arange(k, (Kind::Int64, device)).unsqueeze(0)).view([-1]);
            output = output.index_put(&[Some(index)], &choices.view([-1]), false);
        }
        if self.state_flow {
            // column num_actions of each row, after every action
            output = output.index_put(&[Some(&row_start + num_actions)], &heads.select(1, 1), false);
        }
        output.view([batch.num_graphs, width])
    }
}

#[cfg(test)]
mod tests {
    use crate::config::MessagePassing;
    use crate::config::PolicyConfig;
    use crate::env::Environment;
    use crate::env::blocks::BlockVocabulary;
    use crate::env::fragments::{FragmentEnvironment, FragmentLimits};
    use crate::policy::{LogFlowNetwork, PolicyNetwork};

    const CORES: [MessagePassing; 2] = [MessagePassing::Residual, MessagePassing::Gru];

    /// Two blocks: benzene with two stems and methane with one.
    fn benzene_and_methane() -> FragmentEnvironment {
        let json = r#"{"block_name": {"0": "c1ccccc1_0", "1": "C_0"}, "block_smi": {"0": "c1ccccc1", "1": "C"},
                       "block_r": {"0": [0, 3], "1": [0]}}"#;
        FragmentEnvironment::new(
            BlockVocabulary::from_json_str(json, "test").unwrap(),
            FragmentLimits::default(),
        )
    }

    /// The empty tree, benzene and toluene (benzene + methane) of [`benzene_and_methane`].
    fn empty_benzene_toluene(env: &FragmentEnvironment) -> [crate::env::junction_tree::BlockTree; 3] {
        let s0 = env.initial_state();
        let benzene = env.step(&s0, 0).unwrap();
        let toluene = env.step(&benzene, 1).unwrap();
        [s0, benzene, toluene]
    }

    #[test]
    fn outputs_land_in_each_states_own_columns_with_and_without_a_state_flow() {
        let env = benzene_and_methane();
        let [s0, benzene, toluene] = empty_benzene_toluene(&env);
        let states = [&s0, &benzene, &toluene];
        let input = env.encode_batch(&states, tch::Device::Cpu);
        let a = env.num_actions() as i64;
        for (extra, message_passing) in [0usize, 1].into_iter().flat_map(|e| CORES.map(|c| (e, c))) {
            let vs = tch::nn::VarStore::new(tch::Device::Cpu);
            let config = PolicyConfig::block_graph(16, 2, message_passing);
            let net = PolicyNetwork::new(&vs.root(), &env, &config, extra);
            let outputs = net.outputs(&input);
            assert_eq!(outputs.size(), vec![3, a + extra as i64]);
            let log_flows = net.log_flows(&input);
            assert_eq!(log_flows.size(), vec![3, a]);
            for (row, state) in states.iter().enumerate() {
                let mut mask = vec![false; a as usize];
                env.forward_mask(state, &mut mask);
                for (action, &allowed) in mask.iter().enumerate() {
                    let value = log_flows.double_value(&[row as i64, action as i64]);
                    // written exactly where the state has a stem (or stop); 0 elsewhere
                    let stop_or_stem = allowed || action as i64 == a - 1 || (row == 0 && action < 2);
                    assert_eq!(
                        value != 0.0,
                        stop_or_stem,
                        "row {row} action {action} extra {extra} {message_passing:?}"
                    );
                }
                if extra == 1 {
                    assert_ne!(outputs.double_value(&[row as i64, a]), 0.0, "state flow of row {row}");
                }
            }
        }
    }

    #[test]
    fn a_float64_network_computes_the_float32_outputs_in_double_precision() {
        let env = benzene_and_methane();
        let [s0, benzene, toluene] = empty_benzene_toluene(&env);
        let input = env.encode_batch(&[&s0, &benzene, &toluene], tch::Device::Cpu);
        for message_passing in CORES {
            let config = PolicyConfig::block_graph(16, 2, message_passing);
            let single = tch::nn::VarStore::new(tch::Device::Cpu);
            let single_net = PolicyNetwork::new(&single.root(), &env, &config, 1);
            let mut double = tch::nn::VarStore::new(tch::Device::Cpu);
            let double_net = PolicyNetwork::new(&double.root(), &env, &config, 1);
            double.copy(&single).unwrap();
            double.double();
            let (a, b) = (single_net.outputs(&input), double_net.outputs(&input));
            assert_eq!((a.kind(), b.kind()), (tch::Kind::Float, tch::Kind::Double), "{message_passing:?}");
            let gap = (a.to_kind(tch::Kind::Double) - &b).abs().max().double_value(&[]);
            assert!(gap < 1e-5 && b.abs().max().double_value(&[]) > 1e-3, "{message_passing:?}: {gap}");
        }
    }

    #[test]
    fn a_conditioned_network_chooses_at_the_root_and_reads_the_condition_below_it() {
        use crate::env::conditioned::RewardConditioned;
        let inner = benzene_and_methane();
        let inner_actions = inner.num_actions();
        let env = RewardConditioned::new(inner, vec![1.0, 4.0, 16.0]);
        let a = env.num_actions() as i64;
        assert_eq!(a as usize, inner_actions + 3);
        let root = env.initial_state();
        let cold = env.step(&root, inner_actions as u32).unwrap();
        let hot = env.step(&root, inner_actions as u32 + 2).unwrap();
        let cold_benzene = env.step(&cold, 0).unwrap();
        let hot_benzene = env.step(&hot, 0).unwrap();
        let states = [&root, &cold, &hot, &cold_benzene, &hot_benzene];
        let input = env.encode_batch(&states, tch::Device::Cpu);
        for (extra, message_passing) in [0usize, 1].into_iter().flat_map(|e| CORES.map(|c| (e, c))) {
            let vs = tch::nn::VarStore::new(tch::Device::Cpu);
            let config = PolicyConfig::block_graph(16, 2, message_passing);
            let net = PolicyNetwork::new(&vs.root(), &env, &config, extra);
            let outputs = net.outputs(&input);
            assert_eq!(outputs.size(), vec![5, a + extra as i64]);
            let value = |row: i64, column: i64| outputs.double_value(&[row, column]);
            for row in 0..5i64 {
                for choice in inner_actions as i64..a {
                    // only the root has choice flows
                    assert_eq!(value(row, choice) != 0.0, row == 0, "row {row} choice {choice}");
                }
                if extra == 1 {
                    assert_ne!(value(row, a), 0.0, "state flow of row {row}");
                }
            }
            // the same tree under another exponent gets other flows
            let stop = inner_actions as i64 - 1;
            assert_ne!(value(3, stop), value(4, stop));
            assert_ne!(value(1, 0), value(2, 0));
        }
    }
}
