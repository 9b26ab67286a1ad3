//! Assembling the molecule of a junction tree of building blocks, with the semantics of the
//! paper's code (GFNOrg/gflownet `mols/utils/chem.py`, `mol_from_frag`): the block molecules are
//! concatenated in block order (atom index = block offset + index in the block), each junction
//! bond is added as a single bond in order, then each junction bond's two end atoms lose one
//! explicit hydrogen if they have any (bracket atoms such as `[nH]`).

use chematic::core::{AtomIdx, BondOrder, Molecule, MoleculeBuilder};

use super::blocks::BlockVocabulary;

/// A single bond between two blocks of a junction tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JunctionBond {
    /// Position of the first block in the tree's block list.
    pub block_a: usize,
    /// Position of the second block.
    pub block_b: usize,
    /// Atom index inside the first block.
    pub atom_a: usize,
    /// Atom index inside the second block.
    pub atom_b: usize,
}

/// Why a junction tree has no molecule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// A block id is not in the vocabulary.
    #[error("block id {block} is not in the vocabulary of {size} blocks")]
    UnknownBlock { block: usize, size: usize },
    /// A junction bond names a block position or an atom that does not exist.
    #[error("junction bond {index} ({bond:?}) names a block or atom that does not exist")]
    BadJunction { index: usize, bond: JunctionBond },
    /// Two junction bonds join the same pair of atoms.
    #[error("junction bond {index} ({bond:?}) duplicates another bond")]
    DuplicateBond { index: usize, bond: JunctionBond },
}

/// Where each block's atoms start in the assembled molecule of `blocks` (vocabulary ids): the
/// atom index of a block's atom `a` is its offset + `a` (an unknown block id counts no atoms).
pub fn atom_offsets(vocabulary: &BlockVocabulary, blocks: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut next = 0;
    blocks
        .into_iter()
        .map(|block| {
            let offset = next;
            next += vocabulary.blocks.get(block).map_or(0, |b| b.atom_count);
            offset
        })
        .collect()
}

/// The molecule of the blocks `blocks` (vocabulary ids) joined by `bonds`.
pub fn assemble(
    vocabulary: &BlockVocabulary,
    blocks: &[usize],
    bonds: &[JunctionBond],
) -> Result<Molecule, AssemblyError> {
    let size = vocabulary.blocks.len();
    let mut builder = MoleculeBuilder::new();
    let offsets = atom_offsets(vocabulary, blocks.iter().copied());
    for (&block, &offset) in blocks.iter().zip(&offsets) {
        let molecule = vocabulary.molecule(block).ok_or(AssemblyError::UnknownBlock { block, size })?;
        debug_assert_eq!(builder.atom_count(), offset, "block atom counts are the parsed molecules'");
        let offset = offset as u32;
        for (_, atom) in molecule.atoms() {
            builder.add_atom(atom.clone());
        }
        for (_, bond) in molecule.bonds() {
            builder
                .add_bond(AtomIdx(offset + bond.atom1.0), AtomIdx(offset + bond.atom2.0), bond.order)
                .expect("a parsed block's bonds are valid");
        }
    }
    let atom_of = |index: usize, bond: &JunctionBond| -> Result<(AtomIdx, AtomIdx), AssemblyError> {
        let end = |position: usize, atom: usize| {
            let block = *blocks.get(position)?;
            (atom < vocabulary.blocks[block].atom_count).then(|| AtomIdx((offsets[position] + atom) as u32))
        };
        match (end(bond.block_a, bond.atom_a), end(bond.block_b, bond.atom_b)) {
            (Some(a), Some(b)) if a != b => Ok((a, b)),
            _ => Err(AssemblyError::BadJunction { index, bond: *bond }),
        }
    };
    let mut ends = Vec::with_capacity(bonds.len());
    for (index, bond) in bonds.iter().enumerate() {
        let (a, b) = atom_of(index, bond)?;
        builder
            .add_bond(a, b, BondOrder::Single)
            .map_err(|_| AssemblyError::DuplicateBond { index, bond: *bond })?;
        ends.push([a, b]);
    }
    for atom in ends.into_iter().flatten() {
        if let Some(hydrogens) = builder.atom_at(atom).hydrogen_count
            && hydrogens > 0
        {
            builder.set_atom_hydrogen_count(atom, Some(hydrogens - 1));
        }
    }
    Ok(builder.build())
}

/// Canonical SMILES of a molecule (chematic's canonicalization).
pub fn canonical_smiles(molecule: &Molecule) -> String {
    chematic::smiles::canonical_smiles(molecule)
}
