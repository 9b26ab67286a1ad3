//! Fragment-based molecule generation (Bengio et al. 2021, §4.2): a state is a junction tree of
//! building blocks; the molecule is assembled from it.
//!
//! * The first action places any block `b` (action `b`): all its attachment atoms become stems.
//! * Then action `slot · B + b` attaches block `b` (of `B`) through its first attachment atom,
//!   with a single bond, to the open stem in position `slot` of the state's sorted stem list; the
//!   block's other attachment atoms become stems and the used stem disappears.
//! * Stop is allowed from `min_blocks` blocks on, or when no stem is left; at `max_blocks`
//!   blocks, or with no stem left, stop is the only action.
//!
//! States are canonical junction trees ([`BlockTree::canonical`]): blocks are stored by class,
//! where a class is the set of vocabulary entries with the same SMILES and the same multiset of
//! attachment atoms (entries that differ only in which attachment comes first). Two entries of
//! a class attached on the same atoms give the same state; the stems of a placed block are its
//! class's attachment atoms minus those its junction bonds use.
//!
//! Parents: every state reached by removing a block of degree 1, with *every* action of that
//! parent that leads back to this state (all entries of the removed block's class whose first
//! attachment is the removed bond's atom, on every stem that gives an isomorphic tree), each
//! distinct (parent, action) pair once. So flow matching sums exactly the DAG's in-edges.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chematic::core::Molecule;
use rustc_hash::FxHashSet;

use super::blocks::{BlockVocabulary, VocabularyError};
use super::junction_tree::{BlockTree, TreeBond};
use super::molecule::{AssemblyError, JunctionBond, assemble, canonical_smiles};
use super::{Action, EnvError, Environment};
use crate::policy::input::{BlockGraph, BlockGraphBuilder, BlockGraphShape, InputShape, NetworkInput};

/// The fragment-molecule environment over a block vocabulary.
#[derive(Debug, Clone)]
pub struct FragmentEnvironment {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vocabulary: BlockVocabulary,
    /// Class representative (lowest entry id of the class) of each entry.
    class_of: Vec<u16>,
    /// Attachment atoms of each entry, first one first.
    attachments: Vec<Vec<u8>>,
    /// For each class representative: the class's entries.
    class_members: Vec<Vec<u16>>,
    /// Attachment label of (class representative, atom); `u16::MAX` where none.
    attachment_type: Vec<Vec<u16>>,
    attachment_types: usize,
    min_blocks: usize,
    max_blocks: usize,
    max_stems: usize,
}

/// Sizes of the fragment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Fewest blocks before stop is allowed (unless no stem is left).
    pub min_blocks: usize,
    /// Most blocks in a molecule.
    pub max_blocks: usize,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        Self { min_blocks: 2, max_blocks: 8 }
    }
}

impl FragmentEnvironment {
    /// Loads the vocabulary file at `path`.
    pub fn load(path: &Path, limits: FragmentLimits) -> Result<Self, VocabularyError> {
        Ok(Self::new(BlockVocabulary::load(path)?, limits))
    }

    /// The environment over `vocabulary`.
    ///
    /// # Panics
    /// If the vocabulary has more than 65,535 entries or a block more than 255 atoms.
    pub fn new(vocabulary: BlockVocabulary, limits: FragmentLimits) -> Self {
        let blocks = &vocabulary.blocks;
        assert!(blocks.len() < u16::MAX as usize, "too many blocks");
        let attachments: Vec<Vec<u8>> = blocks
            .iter()
            .map(|b| {
                b.attachments.iter().map(|&a| u8::try_from(a).expect("block atom index < 256")).collect()
            })
            .collect();
        let sorted = |id: usize| {
            let mut atoms = attachments[id].clone();
            atoms.sort_unstable();
            atoms
        };
        let mut representative: HashMap<(&str, Vec<u8>), u16> = HashMap::new();
        let mut class_of = Vec::with_capacity(blocks.len());
        let mut class_members = vec![Vec::new(); blocks.len()];
        for (id, block) in blocks.iter().enumerate() {
            let class = *representative.entry((block.smiles.as_str(), sorted(id))).or_insert(id as u16);
            class_of.push(class);
            class_members[class as usize].push(id as u16);
        }
        let mut attachment_type = vec![Vec::new(); blocks.len()];
        let mut attachment_types = 0usize;
        for (id, block) in blocks.iter().enumerate() {
            if class_of[id] as usize != id {
                continue;
            }
            let mut types = vec![u16::MAX; block.atom_count];
            for &atom in &attachments[id] {
                if types[atom as usize] == u16::MAX {
                    types[atom as usize] = attachment_types as u16;
                    attachment_types += 1;
                }
            }
            attachment_type[id] = types;
        }
        let max_attachments = attachments.iter().map(Vec::len).max().unwrap_or(0);
        let max_stems = (max_attachments
            + limits.max_blocks.saturating_sub(1) * max_attachments.saturating_sub(2))
        .max(1);
        Self {
            inner: Arc::new(Inner {
                vocabulary,
                class_of,
                attachments,
                class_members,
                attachment_type,
                attachment_types,
                min_blocks: limits.min_blocks,
                max_blocks: limits.max_blocks,
                max_stems,
            }),
        }
    }

    /// The vocabulary.
    pub fn vocabulary(&self) -> &BlockVocabulary {
        &self.inner.vocabulary
    }

    /// Number of vocabulary entries `B` (actions per stem).
    pub fn num_blocks(&self) -> usize {
        self.inner.attachments.len()
    }

    /// Stem slots of the action space (an upper bound on the stems of any state).
    pub fn max_stems(&self) -> usize {
        self.inner.max_stems
    }

    /// The network input layout.
    pub fn graph_shape(&self) -> BlockGraphShape {
        BlockGraphShape {
            node_types: self.num_blocks() + 1,
            attachment_types: self.inner.attachment_types + 1,
            blocks_per_stem: self.num_blocks(),
            max_stems: self.inner.max_stems,
            conditions: 0,
            condition_features: 0,
        }
    }

    /// Open stems `(block position, atom)` of `tree`, sorted: each block's class attachment
    /// atoms minus the atoms its junction bonds use (with multiplicity).
    pub fn stems(&self, tree: &BlockTree) -> Vec<(u8, u8)> {
        let mut stems = Vec::new();
        for (position, &class) in tree.blocks.iter().enumerate() {
            let mut atoms = self.inner.attachments[class as usize].clone();
            for bond in &tree.bonds {
                let used = if bond.parent as usize == position {
                    Some(bond.parent_atom)
                } else if bond.child as usize == position {
                    Some(bond.child_atom)
                } else {
                    None
                };
                if let Some(used) = used
                    && let Some(i) = atoms.iter().position(|&a| a == used)
                {
                    atoms.swap_remove(i);
                }
            }
            atoms.sort_unstable();
            stems.extend(atoms.into_iter().map(|atom| (position as u8, atom)));
        }
        stems
    }

    /// The assembled molecule of `tree`.
    pub fn molecule(&self, tree: &BlockTree) -> Result<Molecule, AssemblyError> {
        let blocks: Vec<usize> = tree.blocks.iter().map(|&b| b as usize).collect();
        let bonds: Vec<JunctionBond> = tree
            .bonds
            .iter()
            .map(|b| JunctionBond {
                block_a: b.parent as usize,
                block_b: b.child as usize,
                atom_a: b.parent_atom as usize,
                atom_b: b.child_atom as usize,
            })
            .collect();
        assemble(&self.inner.vocabulary, &blocks, &bonds)
    }

    /// Canonical SMILES of the molecule of `tree` (the molecule's canonical key).
    pub fn smiles(&self, tree: &BlockTree) -> Result<String, AssemblyError> {
        self.molecule(tree).map(|m| canonical_smiles(&m))
    }

    fn not_allowed(&self, state: &BlockTree, action: Action) -> EnvError {
        EnvError::ActionNotAllowed { action, state: format!("{state:?}") }
    }

    fn attach(&self, state: &BlockTree, stem: (u8, u8), block: usize) -> BlockTree {
        let mut grown = state.clone();
        let position = grown.blocks.len() as u8;
        grown.blocks.push(self.inner.class_of[block]);
        grown.bonds.push(TreeBond {
            parent: stem.0,
            child: position,
            parent_atom: stem.1,
            child_atom: self.inner.attachments[block][0],
        });
        grown.canonical()
    }
}

impl Environment for FragmentEnvironment {
    type State = BlockTree;

    fn name(&self) -> &'static str {
        "fragments"
    }

    fn num_actions(&self) -> usize {
        self.inner.max_stems * self.num_blocks() + 1
    }

    fn stop_action(&self) -> Action {
        (self.num_actions() - 1) as Action
    }

    fn initial_state(&self) -> BlockTree {
        BlockTree::default()
    }

    fn forward_mask(&self, state: &BlockTree, mask: &mut [bool]) {
        mask.fill(false);
        let blocks = self.num_blocks();
        if state.is_empty() {
            mask[..blocks].fill(true);
            return;
        }
        let stems = self.stems(state).len();
        if state.len() < self.inner.max_blocks {
            mask[..stems * blocks].fill(true);
        }
        let stop_allowed =
            state.len() >= self.inner.min_blocks || stems == 0 || state.len() >= self.inner.max_blocks;
        mask[self.num_actions() - 1] = stop_allowed;
    }

    fn step(&self, state: &BlockTree, action: Action) -> Result<BlockTree, EnvError> {
        let num_actions = self.num_actions();
        if action as usize >= num_actions {
            return Err(EnvError::ActionOutOfRange { action, num_actions });
        }
        if action == self.stop_action() {
            return Err(EnvError::StepOnStop);
        }
        let blocks = self.num_blocks();
        let (slot, block) = (action as usize / blocks, action as usize % blocks);
        if state.is_empty() {
            if slot != 0 {
                return Err(self.not_allowed(state, action));
            }
            return Ok(BlockTree { blocks: vec![self.inner.class_of[block]], bonds: Vec::new() });
        }
        if state.len() >= self.inner.max_blocks {
            return Err(self.not_allowed(state, action));
        }
        let stems = self.stems(state);
        let &stem = stems.get(slot).ok_or_else(|| self.not_allowed(state, action))?;
        Ok(self.attach(state, stem, block))
    }

    fn parents(&self, state: &BlockTree) -> Vec<(BlockTree, Action)> {
        let blocks = self.num_blocks();
        match state.len() {
            0 => return Vec::new(),
            1 => {
                let members = &self.inner.class_members[state.blocks[0] as usize];
                return members.iter().map(|&b| (BlockTree::default(), b as Action)).collect();
            }
            _ => {}
        }
        let mut found: FxHashSet<(BlockTree, Action)> = FxHashSet::default();
        for (leaf, &degree) in state.degrees().iter().enumerate() {
            if degree != 1 {
                continue;
            }
            let (rest, cut) = state.without_leaf(leaf);
            let parent = rest.canonical();
            let (neighbour_class, neighbour_atom, leaf_atom) = if cut.child as usize == leaf {
                (state.blocks[cut.parent as usize], cut.parent_atom, cut.child_atom)
            } else {
                (state.blocks[cut.child as usize], cut.child_atom, cut.parent_atom)
            };
            let leaf_class = state.blocks[leaf] as usize;
            let entries: Vec<u16> = self.inner.class_members[leaf_class]
                .iter()
                .copied()
                .filter(|&b| self.inner.attachments[b as usize][0] == leaf_atom)
                .collect();
            if entries.is_empty() {
                continue;
            }
            for (slot, &stem) in self.stems(&parent).iter().enumerate() {
                if stem.1 != neighbour_atom || parent.blocks[stem.0 as usize] != neighbour_class {
                    continue;
                }
                if self.attach(&parent, stem, entries[0] as usize) != *state {
                    continue;
                }
                for &entry in &entries {
                    found.insert((parent.clone(), (slot * blocks + entry as usize) as Action));
                }
            }
        }
        let mut parents: Vec<(BlockTree, Action)> = found.into_iter().collect();
        parents.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.blocks.cmp(&b.0.blocks)));
        parents
    }

    fn max_trajectory_length(&self) -> usize {
        self.inner.max_blocks + 1
    }

    /// The paper's `early_stop_reg`: a molecule of `min_blocks..=max_blocks` blocks.
    fn early_stop_lengths(&self) -> std::ops::RangeInclusive<usize> {
        self.inner.min_blocks..=self.inner.max_blocks
    }

    fn input_shape(&self) -> InputShape {
        InputShape::BlockGraph(self.graph_shape())
    }

    fn encode_batch(&self, states: &[&BlockTree], device: tch::Device) -> NetworkInput {
        let shape = self.graph_shape();
        let empty_node = self.num_blocks() as i64;
        let virtual_stem = self.inner.attachment_types as i64;
        let mut builder = BlockGraphBuilder::default();
        let (mut nodes, mut bonds, mut stems) = (Vec::new(), Vec::new(), Vec::new());
        for state in states {
            nodes.clear();
            bonds.clear();
            stems.clear();
            if state.is_empty() {
                nodes.push(empty_node);
                stems.push((0, virtual_stem));
            } else {
                let types = &self.inner.attachment_type;
                let label = |position: u8, atom: u8| {
                    types[state.blocks[position as usize] as usize][atom as usize] as i64
                };
                nodes.extend(state.blocks.iter().map(|&b| b as i64));
                bonds.extend(state.bonds.iter().map(|b| {
                    (
                        b.parent as i64,
                        b.child as i64,
                        label(b.parent, b.parent_atom),
                        label(b.child, b.child_atom),
                    )
                }));
                stems.extend(self.stems(state).into_iter().map(|(p, a)| (p as i64, label(p, a))));
            }
            builder.push(BlockGraph { nodes: &nodes, bonds: &bonds, stems: &stems }, &shape);
        }
        NetworkInput::BlockGraph(builder.finish(device))
    }

    fn describe(&self, state: &BlockTree) -> String {
        self.smiles(state).unwrap_or_else(|e| format!("<{e}>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Benzene twice (same class: attachments [0, 3] and [3, 0]), methanol in two classes
    /// ([0, 1] and [1, 0, 0]), and methane with one attachment.
    fn environment(max_blocks: usize) -> FragmentEnvironment {
        let json = r#"{
            "block_name": {"0": "c1ccccc1_0", "1": "c1ccccc1_1", "2": "CO_0", "3": "CO_1", "4": "C_0"},
            "block_smi": {"0": "c1ccccc1", "1": "c1ccccc1", "2": "CO", "3": "CO", "4": "C"},
            "block_r": {"0": [0, 3], "1": [3, 0], "2": [0, 1], "3": [1, 0, 0], "4": [0]}
        }"#;
        let vocabulary = BlockVocabulary::from_json_str(json, "test").unwrap();
        FragmentEnvironment::new(vocabulary, FragmentLimits { min_blocks: 2, max_blocks })
    }

    fn allowed(env: &FragmentEnvironment, state: &BlockTree) -> Vec<Action> {
        let mut mask = vec![false; env.num_actions()];
        env.forward_mask(state, &mut mask);
        (0..env.num_actions() as Action).filter(|&a| mask[a as usize]).collect()
    }

    #[test]
    fn classes_stems_and_action_space() {
        let env = environment(4);
        assert_eq!(env.inner.class_of, vec![0, 0, 2, 3, 4]);
        // max 3 attachments: 3 + 3 · 1 stems at most
        assert_eq!(env.max_stems(), 6);
        assert_eq!(env.num_actions(), 6 * 5 + 1);
        let s0 = env.initial_state();
        assert_eq!(allowed(&env, &s0), vec![0, 1, 2, 3, 4]);
        let benzene = env.step(&s0, 1).unwrap();
        assert_eq!(benzene, env.step(&s0, 0).unwrap(), "entries of one class give one state");
        assert_eq!(env.stems(&benzene), vec![(0, 0), (0, 3)]);
        // one block: no stop yet; two stems × five blocks
        assert_eq!(allowed(&env, &benzene), (0..10).collect::<Vec<_>>());
        // methane on stem 1 (atom 3): the stem is used, methane has none
        let toluene = env.step(&benzene, 5 + 4).unwrap();
        assert_eq!(env.stems(&toluene), vec![(0, 0)]);
        assert!(allowed(&env, &toluene).contains(&env.stop_action()));
        assert_eq!(env.smiles(&toluene).unwrap(), env.smiles(&env.step(&benzene, 4).unwrap()).unwrap());
        assert!(env.step(&toluene, 5 + 4).is_err(), "slot 1 does not exist any more");
    }

    #[test]
    fn stop_is_forced_at_max_blocks_and_without_stems() {
        let env = environment(3);
        let methane = env.step(&env.initial_state(), 4).unwrap();
        let ethane = env.step(&methane, 4).unwrap();
        assert!(env.stems(&ethane).is_empty());
        assert_eq!(allowed(&env, &ethane), vec![env.stop_action()]);
        let full = [0, 2, 2].into_iter().fold(env.initial_state(), |s, a| env.step(&s, a).unwrap());
        assert_eq!(full.len(), 3);
        assert_eq!(allowed(&env, &full), vec![env.stop_action()]);
    }

    #[test]
    fn building_in_another_order_gives_the_same_state() {
        let env = environment(4);
        let s0 = env.initial_state();
        // the action attaching `block` to the stem on atom `atom` of a block of class `class`
        let on = |state: &BlockTree, class: u16, atom: u8, block: usize| {
            let slot = env
                .stems(state)
                .iter()
                .position(|&(p, a)| state.blocks[p as usize] == class && a == atom)
                .expect("such a stem");
            env.step(state, (slot * 5 + block) as Action).unwrap()
        };
        // benzene, then methane on atom 0 and methanol (via O) on atom 3 — in both orders
        let benzene = env.step(&s0, 0).unwrap();
        let a = on(&on(&benzene, 0, 0, 4), 0, 3, 3);
        let b = on(&on(&benzene, 0, 3, 3), 0, 0, 4);
        assert_eq!(a, b);
        // starting from methane gives the same tree too (benzene attached via its atom 0)
        let methane = env.step(&s0, 4).unwrap();
        let c = on(&on(&methane, 4, 0, 0), 0, 3, 3);
        assert_eq!(a, c);
        assert_eq!(env.smiles(&a).unwrap(), env.smiles(&c).unwrap());
    }

    #[test]
    fn parents_are_exactly_the_in_edges() {
        let env = environment(5);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut edges_checked = 0;
        for _ in 0..300 {
            let mut state = env.initial_state();
            loop {
                let actions: Vec<Action> =
                    allowed(&env, &state).into_iter().filter(|&a| a != env.stop_action()).collect();
                if actions.is_empty() {
                    break;
                }
                // completeness: every child of this state lists it with the action that made it
                for &action in &actions {
                    let child = env.step(&state, action).unwrap();
                    assert!(env.parents(&child).contains(&(state.clone(), action)), "{state:?} {action}");
                    edges_checked += 1;
                }
                let action = actions[rng.random_range(0..actions.len())];
                state = env.step(&state, action).unwrap();
                // soundness: every listed parent edge leads here, each once
                let parents = env.parents(&state);
                let distinct: FxHashSet<_> = parents.iter().cloned().collect();
                assert_eq!(distinct.len(), parents.len());
                for (parent, action) in parents {
                    assert_eq!(env.step(&parent, action).unwrap(), state);
                }
                if rng.random_range(0..4) == 0 {
                    break;
                }
            }
        }
        assert!(edges_checked > 1000, "{edges_checked}");
    }

    #[test]
    fn symmetric_stems_give_several_in_edges() {
        let env = environment(4);
        // benzene with methane on atom 0 and on atom 3: every listed in-edge steps back here
        let s0 = env.initial_state();
        let benzene = env.step(&s0, 0).unwrap();
        let one = env.step(&benzene, 4).unwrap();
        let two = env.step(&one, 4).unwrap();
        let parents = env.parents(&two);
        assert!(parents.iter().all(|(p, _)| env.step(p, parents[0].1).is_ok()));
        // the first block's class has two entries: two in-edges from s0
        assert_eq!(env.parents(&benzene).len(), 2);
        assert_eq!(env.parents(&env.step(&s0, 2).unwrap()), vec![(s0.clone(), 2)]);
    }

    #[test]
    fn encoding_has_one_graph_per_state() {
        let env = environment(4);
        let s0 = env.initial_state();
        let benzene = env.step(&s0, 0).unwrap();
        let toluene = env.step(&benzene, 4).unwrap();
        let NetworkInput::BlockGraph(batch) = env.encode_batch(&[&s0, &toluene], tch::Device::Cpu) else {
            panic!("graph input expected");
        };
        assert_eq!(batch.num_graphs, 2);
        assert_eq!(Vec::<i64>::try_from(&batch.node_types).unwrap(), vec![5, 0, 4]);
        assert_eq!(Vec::<i64>::try_from(&batch.edge_source).unwrap(), vec![1, 2]);
        assert_eq!(Vec::<i64>::try_from(&batch.edge_target).unwrap(), vec![2, 1]);
        // s0: one virtual stem at slot 0; toluene: one stem (benzene atom 3), also slot 0
        assert_eq!(Vec::<i64>::try_from(&batch.stem_action).unwrap(), vec![0, 0]);
        assert_eq!(Vec::<i64>::try_from(&batch.stem_node).unwrap(), vec![0, 1]);
        assert!(batch.condition.is_none());
    }
}
