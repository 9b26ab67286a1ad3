//! What a policy network reads: a dense feature matrix (grids) or a batch of block graphs
//! (fragment molecules), and the shape information needed to build the matching network.

use tch::{Device, Tensor};

/// The input an environment produces, which fixes the network architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputShape {
    /// `[batch, feature_dim]` rows for an MLP.
    Dense {
        /// Features per state.
        feature_dim: usize,
    },
    /// Block graphs for a message-passing network.
    BlockGraph(BlockGraphShape),
}

/// Sizes of the block-graph vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGraphShape {
    /// Distinct node labels (block classes, plus the marker of the empty state).
    pub node_types: usize,
    /// Distinct attachment-atom labels (plus the virtual stem of the empty state).
    pub attachment_types: usize,
    /// Outputs per stem (one per block that can be attached).
    pub blocks_per_stem: usize,
    /// Stem slots in the action space; action `slot · blocks_per_stem + block`, then stop.
    pub max_stems: usize,
    /// Conditions chosen at the root (reward exponents), actions right after stop; 0 for an
    /// unconditioned environment.
    pub conditions: usize,
    /// Features of a continuous condition (a preference and an encoded reward exponent) each
    /// graph carries; 0 for none.
    pub condition_features: usize,
}

impl BlockGraphShape {
    /// Size of the action space: every (stem slot, block) pair, stop, and the root's choices
    /// of a condition.
    pub fn num_actions(&self) -> usize {
        self.stop_action() + 1 + self.conditions
    }

    /// The stop action: right after the last (stem slot, block) pair.
    pub fn stop_action(&self) -> usize {
        self.max_stems * self.blocks_per_stem
    }
}

/// A batch of encoded states, on one device.
pub enum NetworkInput {
    /// `[batch, feature_dim]` float rows.
    Dense(Tensor),
    /// Block graphs.
    BlockGraph(BlockGraphBatch),
}

impl NetworkInput {
    /// Dense rows `[rows, feature_dim]` from a row-major buffer.
    pub fn dense(features: &[f32], feature_dim: usize, device: Device) -> Self {
        let rows = features.len().checked_div(feature_dim).unwrap_or(0);
        Self::Dense(Tensor::from_slice(features).view([rows as i64, feature_dim as i64]).to_device(device))
    }
}

/// Block graphs of a batch, flattened: nodes, directed edges and stems of every graph, with
/// the flat output index of each stem's first block and of each graph's stop action.
pub struct BlockGraphBatch {
    /// Number of graphs (states).
    pub num_graphs: i64,
    /// Node label per node `[N]`.
    pub node_types: Tensor,
    /// Graph of each node `[N]`.
    pub node_graph: Tensor,
    /// Source node per directed edge `[E]` (each bond appears in both directions).
    pub edge_source: Tensor,
    /// Target node per directed edge `[E]`.
    pub edge_target: Tensor,
    /// Attachment label at the source end `[E]`.
    pub edge_source_attachment: Tensor,
    /// Attachment label at the target end `[E]`.
    pub edge_target_attachment: Tensor,
    /// Node carrying each stem `[S]`.
    pub stem_node: Tensor,
    /// Attachment label of each stem `[S]`.
    pub stem_attachment: Tensor,
    /// Action of each stem's block 0 (its column in its graph's output row) `[S]`.
    pub stem_action: Tensor,
    /// Condition of each graph `[num_graphs]` for a conditioned environment: the index `k` of
    /// its exponent, or the number of conditions at the root (not chosen yet).
    pub condition: Option<Tensor>,
    /// Continuous condition features of each graph `[num_graphs, condition_features]` for an
    /// environment conditioned on a preference (`BlockGraphShape::condition_features` > 0).
    pub condition_features: Option<Tensor>,
}

/// Collects graphs one by one into a [`BlockGraphBatch`].
#[derive(Debug, Default)]
pub struct BlockGraphBuilder {
    num_graphs: i64,
    node_types: Vec<i64>,
    node_graph: Vec<i64>,
    edge_source: Vec<i64>,
    edge_target: Vec<i64>,
    edge_source_attachment: Vec<i64>,
    edge_target_attachment: Vec<i64>,
    stem_node: Vec<i64>,
    stem_attachment: Vec<i64>,
    stem_action: Vec<i64>,
}

/// One graph: node labels, bonds `(a, b, attachment at a, attachment at b)` and stems
/// `(node, attachment)` in slot order.
pub struct BlockGraph<'a> {
    /// Node labels.
    pub nodes: &'a [i64],
    /// Undirected bonds with the attachment label at each end.
    pub bonds: &'a [(i64, i64, i64, i64)],
    /// Stems in action-slot order.
    pub stems: &'a [(i64, i64)],
}

impl BlockGraphBuilder {
    /// Appends a graph; `shape` gives the action layout.
    pub fn push(&mut self, graph: BlockGraph<'_>, shape: &BlockGraphShape) {
        let offset = self.node_types.len() as i64;
        self.node_types.extend_from_slice(graph.nodes);
        self.node_graph.extend(std::iter::repeat_n(self.num_graphs, graph.nodes.len()));
        for &(a, b, at_a, at_b) in graph.bonds {
            self.edge_source.extend([offset + a, offset + b]);
            self.edge_target.extend([offset + b, offset + a]);
            self.edge_source_attachment.extend([at_a, at_b]);
            self.edge_target_attachment.extend([at_b, at_a]);
        }
        for (slot, &(node, attachment)) in graph.stems.iter().enumerate() {
            self.stem_node.push(offset + node);
            self.stem_attachment.push(attachment);
            self.stem_action.push((slot * shape.blocks_per_stem) as i64);
        }
        self.num_graphs += 1;
    }

    /// The batch, on `device`.
    pub fn finish(self, device: Device) -> BlockGraphBatch {
        let t = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        BlockGraphBatch {
            num_graphs: self.num_graphs,
            node_types: t(&self.node_types),
            node_graph: t(&self.node_graph),
            edge_source: t(&self.edge_source),
            edge_target: t(&self.edge_target),
            edge_source_attachment: t(&self.edge_source_attachment),
            edge_target_attachment: t(&self.edge_target_attachment),
            stem_node: t(&self.stem_node),
            stem_attachment: t(&self.stem_attachment),
            stem_action: t(&self.stem_action),
            condition: None,
            condition_features: None,
        }
    }
}
