//! The sEH binding proxy of Bengio et al. 2021 (§4.2): an MPNN trained on docking scores against
//! soluble epoxide hydrolase, reimplemented in tch and loaded from the published weights.
//!
//! Architecture (the original `MPNNet`, evaluated in float32):
//! `x = LeakyReLU(lin0(features))` (71 → 64); 12 times: `m = LeakyReLU(NNConv(x))` with an edge
//! network 4 → 128 → 64·64 and mean aggregation (`x_i·rootᵀ + mean_j x_j·W(e_ij) + bias`), then
//! `x = GRUCell(m, x)`; `Set2Set` with 3 steps (128 → LSTM → 64); `lin3` (128 → 1).
//! The root weight is applied transposed because the reference (`load_original_model` of
//! recursionpharma/gflownet, which produced the golden outputs) loads the original `root`
//! parameter into PyTorch Geometric's `lin.weight`; applied untransposed, outputs differ by up
//! to 2.6 on the golden molecules. Parity with the reference: 2.9e-6 at most on 500 molecules.
//!
//! Bond features are one-hot over four bond types, so the edge network has only five possible
//! outputs (four bond types and the all-zero feature of a bond-less molecule's self-loop): they
//! are computed once per call and every message is a row of one `[N, 64] × [64, 5·64]` product.
//!
//! Weights: `scripts/convert_seh_proxy.py` turns the published pickle into safetensors once.

use std::collections::HashMap;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::weights::{WeightsError, from_safetensors_bytes};

/// Columns of a node feature row.
pub const NODE_FEATURES: usize = 71;
const HIDDEN: i64 = 64;
const CONV_STEPS: usize = 12;
const SET2SET_STEPS: usize = 3;
/// Edge types: the four bond types and the feature-less self-loop.
const EDGE_TYPES: i64 = 5;

/// A bond type, as the proxy's edge one-hot encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BondType {
    /// Single bond.
    Single = 0,
    /// Double bond.
    Double = 1,
    /// Triple bond.
    Triple = 2,
    /// Aromatic bond.
    Aromatic = 3,
}

impl BondType {
    /// From RDKit's bond type name (`SINGLE`, `DOUBLE`, `TRIPLE`, `AROMATIC`).
    pub fn from_rdkit_name(name: &str) -> Option<Self> {
        match name {
            "SINGLE" => Some(Self::Single),
            "DOUBLE" => Some(Self::Double),
            "TRIPLE" => Some(Self::Triple),
            "AROMATIC" => Some(Self::Aromatic),
            _ => None,
        }
    }
}

/// An atom's hybridization (only what the featurization distinguishes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hybridization {
    /// sp.
    Sp,
    /// sp2.
    Sp2,
    /// sp3.
    Sp3,
    /// Anything else (no column set).
    Other,
}

impl Hybridization {
    /// From RDKit's hybridization name (`SP`, `SP2`, `SP3`; anything else is `Other`).
    pub fn from_rdkit_name(name: &str) -> Self {
        match name {
            "SP" => Self::Sp,
            "SP2" => Self::Sp2,
            "SP3" => Self::Sp3,
            _ => Self::Other,
        }
    }
}

/// What the featurization needs to know about an atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtomLabel {
    /// Atomic number.
    pub atomic_number: u8,
    /// Aromatic flag.
    pub aromatic: bool,
    /// Hybridization.
    pub hybridization: Hybridization,
    /// Total hydrogen count (implicit and explicit).
    pub total_hydrogens: u8,
}

/// Parses the `atoms` and `bonds` arrays of a golden-data record (`../shared/data/seh/README.md`:
/// `[atomic_num, is_aromatic, hybridization, total_num_hs]` and `[i, j, bond_type]`) and
/// featurizes the molecule; `None` if the record is malformed.
pub fn featurize_labelled_record(record: &serde_json::Value) -> Option<MoleculeGraph> {
    let atoms = record["atoms"]
        .as_array()?
        .iter()
        .map(|a| {
            Some(AtomLabel {
                atomic_number: u8::try_from(a[0].as_u64()?).ok()?,
                aromatic: a[1].as_u64()? == 1,
                hybridization: Hybridization::from_rdkit_name(a[2].as_str()?),
                total_hydrogens: u8::try_from(a[3].as_u64()?).ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let bonds = record["bonds"]
        .as_array()?
        .iter()
        .map(|b| {
            let (i, j) = (b[0].as_u64()? as usize, b[1].as_u64()? as usize);
            (i < atoms.len() && j < atoms.len()).then_some(())?;
            Some((i, j, BondType::from_rdkit_name(b[2].as_str()?)?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(featurize(&atoms, &bonds))
}

/// A featurized molecule: node features and directed, typed edges.
#[derive(Debug, Clone, PartialEq)]
pub struct MoleculeGraph {
    /// `num_nodes × 71` features, row-major.
    pub node_features: Vec<f32>,
    /// Number of atoms.
    pub num_nodes: usize,
    /// `(source, target, type)`, both directions, sorted; type 4 is the feature-less self-loop.
    pub edges: Vec<(u32, u32, u8)>,
}

/// Featurizes a molecule exactly as the reference `mol2graph(mpnn_feat(one_hot_atom=True,
/// donor_features=False))` does, plus the always-zero stem-mask column:
/// columns 0–5 element H, C, N, O, F, other; 6 unused; 7–8 acceptor, donor (always 0); 9 aromatic;
/// 10–12 sp, sp2, sp3; 13 total H count; 14–69 atomic number one-hot (`13 + Z`, Z = 1..56);
/// 70 stem mask. A molecule without bonds gets a single self-loop with a zero edge feature.
pub fn featurize(atoms: &[AtomLabel], bonds: &[(usize, usize, BondType)]) -> MoleculeGraph {
    let mut node_features = vec![0f32; atoms.len() * NODE_FEATURES];
    for (atom, row) in atoms.iter().zip(node_features.chunks_exact_mut(NODE_FEATURES)) {
        let element_column = match atom.atomic_number {
            1 => 0,
            6 => 1,
            7 => 2,
            8 => 3,
            9 => 4,
            _ => 5,
        };
        row[element_column] = 1.0;
        row[9] = f32::from(u8::from(atom.aromatic));
        match atom.hybridization {
            Hybridization::Sp => row[10] = 1.0,
            Hybridization::Sp2 => row[11] = 1.0,
            Hybridization::Sp3 => row[12] = 1.0,
            Hybridization::Other => {}
        }
        row[13] = f32::from(atom.total_hydrogens);
        if (1..=56).contains(&atom.atomic_number) {
            row[13 + atom.atomic_number as usize] = 1.0;
        }
    }
    let mut edges: Vec<(u32, u32, u8)> = bonds
        .iter()
        .flat_map(|&(a, b, t)| [(a as u32, b as u32, t as u8), (b as u32, a as u32, t as u8)])
        .collect();
    edges.sort_unstable();
    if edges.is_empty() {
        edges.push((0, 0, 4));
    }
    MoleculeGraph { node_features, num_nodes: atoms.len(), edges }
}

impl MoleculeGraph {
    /// Sets the stem-mask column (70) of `atoms` — the molecule's open attachment atoms — as
    /// GFNOrg/gflownet's `model_atom.mol2graph` does for the paper's runs; like it, a molecule
    /// without open stems gets atom 0 marked. Indices past the last atom are ignored.
    pub fn mark_stems(&mut self, atoms: &[usize]) {
        let first = [0];
        let marked = if atoms.is_empty() { &first[..] } else { atoms };
        for &atom in marked.iter().filter(|&&a| a < self.num_nodes) {
            self.node_features[atom * NODE_FEATURES + STEM_MASK_COLUMN] = 1.0;
        }
    }
}

/// The node-feature column of the stem mask.
pub const STEM_MASK_COLUMN: usize = NODE_FEATURES - 1;

/// The proxy network with its weights.
pub struct SehProxy {
    parameters: HashMap<String, Tensor>,
    /// Edge weights of the five edge types side by side: `[64, 5·64]`.
    edge_weights: Tensor,
    /// `conv.root` as applied (`x · root_applied`): `rootᵀ` (the golden data's port) or `root`.
    root_applied: Tensor,
}

/// Why the proxy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The weights file could not be read.
    #[error("cannot read sEH proxy weights {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file of f32 tensors.
    #[error("sEH proxy weights {path}: {source}")]
    Format {
        path: String,
        #[source]
        source: WeightsError,
    },
    /// A tensor is missing or has the wrong shape.
    #[error("sEH proxy weights {path}: tensor {name} {problem}")]
    Tensor { path: String, name: String, problem: String },
}

const EXPECTED: [(&str, &[i64]); 18] = [
    ("lin0.weight", &[64, 71]),
    ("lin0.bias", &[64]),
    ("conv.root", &[64, 64]),
    ("conv.bias", &[64]),
    ("conv.nn.0.weight", &[128, 4]),
    ("conv.nn.0.bias", &[128]),
    ("conv.nn.2.weight", &[4096, 128]),
    ("conv.nn.2.bias", &[4096]),
    ("gru.weight_ih", &[192, 64]),
    ("gru.weight_hh", &[192, 64]),
    ("gru.bias_ih", &[192]),
    ("gru.bias_hh", &[192]),
    ("set2set.lstm.weight_ih", &[256, 128]),
    ("set2set.lstm.weight_hh", &[256, 64]),
    ("set2set.lstm.bias_ih", &[256]),
    ("set2set.lstm.bias_hh", &[256]),
    ("lin3.weight", &[1, 128]),
    ("lin3.bias", &[1]),
];

impl SehProxy {
    /// With `original`, the NNConv root weight is applied as the paper's PyTorch Geometric 1.x
    /// did (`x · root`, GFNOrg/gflownet's runs); without, transposed as recursionpharma/gflownet's
    /// port and the golden data (`x · rootᵀ`, the default).
    pub fn with_original_root(mut self, original: bool) -> Self {
        let root = &self.parameters["conv.root"];
        self.root_applied = if original { root.contiguous() } else { root.tr().contiguous() };
        self
    }

    /// Loads converted weights (see the module docs).
    pub fn load(path: &Path) -> Result<Self, ProxyError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ProxyError::Read { path: name.clone(), source })?;
        let tensors = from_safetensors_bytes(&bytes)
            .map_err(|source| ProxyError::Format { path: name.clone(), source })?;
        let parameters: HashMap<String, Tensor> = tensors.into_iter().collect();
        for (tensor, shape) in EXPECTED {
            match parameters.get(tensor) {
                None => {
                    return Err(ProxyError::Tensor {
                        path: name,
                        name: tensor.into(),
                        problem: "is missing".into(),
                    });
                }
                Some(t) if t.size() != shape => {
                    return Err(ProxyError::Tensor {
                        path: name,
                        name: tensor.into(),
                        problem: format!("has shape {:?}, expected {shape:?}", t.size()),
                    });
                }
                Some(_) => {}
            }
        }
        let _no_grad = tch::no_grad_guard();
        // The edge network on the five possible edge features: one-hots of the four bond types
        // and the zero vector of a self-loop.
        let edge_features = Tensor::cat(
            &[Tensor::eye(4, (Kind::Float, Device::Cpu)), Tensor::zeros([1, 4], (Kind::Float, Device::Cpu))],
            0,
        );
        let p = |n: &str| &parameters[n];
        let hidden = edge_features.linear(p("conv.nn.0.weight"), Some(p("conv.nn.0.bias"))).leaky_relu();
        let per_type = hidden
            .linear(p("conv.nn.2.weight"), Some(p("conv.nn.2.bias")))
            .view([EDGE_TYPES, HIDDEN, HIDDEN]);
        // [5, in, out] → [in, 5·out]
        let edge_weights = per_type.permute([1, 0, 2]).reshape([HIDDEN, EDGE_TYPES * HIDDEN]).contiguous();
        let root_applied = parameters["conv.root"].tr().contiguous();
        Ok(Self { parameters, edge_weights, root_applied })
    }

    fn p(&self, name: &str) -> &Tensor {
        &self.parameters[name]
    }

    /// The raw proxy output for each molecule (batched: one forward pass for all of them).
    pub fn predict(&self, molecules: &[MoleculeGraph]) -> Vec<f32> {
        if molecules.is_empty() {
            return Vec::new();
        }
        let _no_grad = tch::no_grad_guard();
        let mut features = Vec::new();
        let (mut sources, mut targets, mut types, mut graph_of_node) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0i64;
        for (graph_index, molecule) in molecules.iter().enumerate() {
            features.extend_from_slice(&molecule.node_features);
            for &(source, target, edge_type) in &molecule.edges {
                sources.push(offset + source as i64);
                targets.push(offset + target as i64);
                types.push(edge_type as i64);
            }
            graph_of_node.extend(std::iter::repeat_n(graph_index as i64, molecule.num_nodes));
            offset += molecule.num_nodes as i64;
        }
        let num_nodes = offset;
        let num_graphs = molecules.len() as i64;
        let options = (Kind::Float, Device::Cpu);
        let x = Tensor::from_slice(&features).view([num_nodes, NODE_FEATURES as i64]);
        let sources = Tensor::from_slice(&sources);
        let targets = Tensor::from_slice(&targets);
        // Row of each message in the [N·5, 64] view of x·W_all.
        let message_rows = &sources * EDGE_TYPES + Tensor::from_slice(&types);
        let in_degree = Tensor::zeros([num_nodes], options)
            .index_add(0, &targets, &Tensor::ones([targets.size()[0]], options))
            .clamp_min(1.0)
            .unsqueeze(1);
        let batch = Tensor::from_slice(&graph_of_node);

        let mut x = x.linear(self.p("lin0.weight"), Some(self.p("lin0.bias"))).leaky_relu();
        for _ in 0..CONV_STEPS {
            let transformed = x.matmul(&self.edge_weights).view([num_nodes * EDGE_TYPES, HIDDEN]);
            let messages = transformed.index_select(0, &message_rows);
            let aggregated =
                Tensor::zeros([num_nodes, HIDDEN], options).index_add(0, &targets, &messages) / &in_degree;
            let m = (aggregated + x.matmul(&self.root_applied) + self.p("conv.bias")).leaky_relu();
            x = m.gru_cell(
                &x,
                self.p("gru.weight_ih"),
                self.p("gru.weight_hh"),
                Some(self.p("gru.bias_ih")),
                Some(self.p("gru.bias_hh")),
            );
        }
        // Set2Set.
        let mut q_star = Tensor::zeros([num_graphs, 2 * HIDDEN], options);
        let mut h = Tensor::zeros([num_graphs, HIDDEN], options);
        let mut c = Tensor::zeros([num_graphs, HIDDEN], options);
        for _ in 0..SET2SET_STEPS {
            let (h_next, c_next) = q_star.lstm_cell(
                &[&h, &c],
                self.p("set2set.lstm.weight_ih"),
                self.p("set2set.lstm.weight_hh"),
                Some(self.p("set2set.lstm.bias_ih")),
                Some(self.p("set2set.lstm.bias_hh")),
            );
            h = h_next;
            c = c_next;
            let scores =
                (&x * h.index_select(0, &batch)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
            // Per-molecule maximum for a stable softmax (computed here: libtorch's segment
            // max is a beta API that warns on every call).
            let mut score_values = vec![0f32; num_nodes as usize];
            scores.copy_data(&mut score_values, num_nodes as usize);
            let mut maximum_of_graph = vec![f32::NEG_INFINITY; molecules.len()];
            for (&graph, &score) in graph_of_node.iter().zip(&score_values) {
                let slot = &mut maximum_of_graph[graph as usize];
                *slot = slot.max(score);
            }
            let maxima = Tensor::from_slice(&maximum_of_graph);
            let exp = (scores - maxima.index_select(0, &batch)).exp();
            let sums = Tensor::zeros([num_graphs], options).index_add(0, &batch, &exp);
            let attention = (exp / sums.index_select(0, &batch)).unsqueeze(1);
            let readout =
                Tensor::zeros([num_graphs, HIDDEN], options).index_add(0, &batch, &(attention * &x));
            q_star = Tensor::cat(&[&h, &readout], 1);
        }
        let out = q_star.linear(self.p("lin3.weight"), Some(self.p("lin3.bias"))).view([num_graphs]);
        let mut values = vec![0f32; molecules.len()];
        out.copy_data(&mut values, molecules.len());
        values
    }
}
