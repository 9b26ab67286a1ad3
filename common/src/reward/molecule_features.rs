//! Proxy features of an assembled molecule: the atom labels the sEH proxy reads (element,
//! aromaticity, hybridization, total hydrogens) and its bond types, perceived by chematic's
//! RDKit-compatible sanitized model (the same model its OGB graph features use), so that the
//! labels are RDKit's without RDKit.

use chematic::core::Molecule;
use chematic::smiles::rdkit::ogb_graph_features_with_options;

use super::seh_proxy::{AtomLabel, BondType, Hybridization, MoleculeGraph, featurize};

/// Why a molecule could not be featurized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the molecule cannot be sanitized for featurization: {reason}")]
pub struct FeaturizeError {
    /// chematic's reason.
    pub reason: String,
}

/// Bonds as `(atom, atom, type)`.
pub type TypedBonds = Vec<(usize, usize, BondType)>;

/// RDKit-style atom labels and bonds of `molecule`, atom order preserved.
pub fn atom_labels_and_bonds(molecule: &Molecule) -> Result<(Vec<AtomLabel>, TypedBonds), FeaturizeError> {
    let features = ogb_graph_features_with_options(molecule, false)
        .map_err(|e| FeaturizeError { reason: e.to_string() })?;
    // OGB node columns: atomic number − 1, chirality, degree, charge, H count, radicals,
    // hybridization (0 sp, 1 sp2, 2 sp3, …), aromatic, in ring.
    let atoms = features
        .node_feat
        .iter()
        .map(|row| AtomLabel {
            atomic_number: (row[0] + 1) as u8,
            aromatic: row[7] == 1,
            hybridization: match row[6] {
                0 => Hybridization::Sp,
                1 => Hybridization::Sp2,
                2 => Hybridization::Sp3,
                _ => Hybridization::Other,
            },
            total_hydrogens: row[4] as u8,
        })
        .collect();
    // Each bond appears twice (both directions); keep the first.
    let bonds = features
        .edge_index
        .iter()
        .zip(&features.edge_feat)
        .step_by(2)
        .map(|(ends, feature)| {
            let bond_type = match feature[0] {
                0 => Ok(BondType::Single),
                1 => Ok(BondType::Double),
                2 => Ok(BondType::Triple),
                3 => Ok(BondType::Aromatic),
                other => Err(FeaturizeError { reason: format!("unsupported bond type code {other}") }),
            }?;
            Ok((ends[0] as usize, ends[1] as usize, bond_type))
        })
        .collect::<Result<_, _>>()?;
    Ok((atoms, bonds))
}

/// The proxy's input graph for `molecule` (see [`featurize`]).
pub fn featurize_molecule(molecule: &Molecule) -> Result<MoleculeGraph, FeaturizeError> {
    let (atoms, bonds) = atom_labels_and_bonds(molecule)?;
    Ok(featurize(&atoms, &bonds))
}

/// The proxy's input graph for a molecule given as SMILES (parsed by chematic).
pub fn featurize_smiles(smiles: &str) -> Result<MoleculeGraph, FeaturizeError> {
    let molecule = chematic::smiles::parse(smiles)
        .map_err(|e| FeaturizeError { reason: format!("SMILES {smiles:?}: {e}") })?;
    featurize_molecule(&molecule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(smiles: &str) -> Vec<AtomLabel> {
        atom_labels_and_bonds(&chematic::smiles::parse(smiles).unwrap()).unwrap().0
    }

    #[test]
    fn aromatic_hybridization_and_hydrogens_follow_rdkit() {
        // pyrrole: aromatic sp2 atoms, the N carries one H
        let pyrrole = labels("c1cc[nH]c1");
        assert!(pyrrole.iter().all(|a| a.aromatic && a.hybridization == Hybridization::Sp2));
        assert_eq!(pyrrole[3].total_hydrogens, 1);
        // acetonitrile: sp3 methyl with 3 H, sp nitrile
        let nitrile = labels("CC#N");
        assert_eq!(nitrile[0].hybridization, Hybridization::Sp3);
        assert_eq!(nitrile[0].total_hydrogens, 3);
        assert_eq!(nitrile[1].hybridization, Hybridization::Sp);
        // amide N is conjugated: sp2 in RDKit
        let amide = labels("CC(=O)N");
        assert_eq!(amide[3].hybridization, Hybridization::Sp2);
        assert_eq!(amide[3].total_hydrogens, 2);
    }

    #[test]
    fn bonds_keep_their_types() {
        let molecule = chematic::smiles::parse("c1ccccc1C=O").unwrap();
        let (_, bonds) = atom_labels_and_bonds(&molecule).unwrap();
        assert_eq!(bonds.len(), 8);
        assert_eq!(bonds.iter().filter(|b| b.2 == BondType::Aromatic).count(), 6);
        assert!(bonds.contains(&(6, 7, BondType::Double)));
    }
}
