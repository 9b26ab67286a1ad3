//! Junction trees of building blocks in canonical form.
//!
//! A tree's nodes are blocks (labelled with a block class id), its edges junction bonds labelled
//! with the atom used on each side. Two trees that differ only in the numbering of their blocks
//! are the same state: [`BlockTree::canonical`] renumbers the blocks in a preorder from a
//! canonical root, with children in a canonical order (AHU tree canonization, with every block
//! tried as the root), so that isomorphic trees have identical, hashable representations.

use serde::{Deserialize, Serialize};

/// A junction bond in a tree: `parent` and `child` are block positions (`parent < child` in
/// canonical form), the atoms are indices inside each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TreeBond {
    /// Position of the block nearer the root.
    pub parent: u8,
    /// Position of the other block.
    pub child: u8,
    /// Atom of the parent block that carries the bond.
    pub parent_atom: u8,
    /// Atom of the child block that carries the bond.
    pub child_atom: u8,
}

/// A junction tree: block class ids and the bonds between them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockTree {
    /// Block class id of each position.
    pub blocks: Vec<u16>,
    /// Junction bonds; a tree of `n` blocks has `n − 1`.
    pub bonds: Vec<TreeBond>,
}

/// Marks "no parent" in encodings.
const ROOT_MARK: u16 = u16::MAX;

impl BlockTree {
    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the tree has no block (the initial state).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Number of junction bonds at each block.
    pub fn degrees(&self) -> Vec<usize> {
        let mut degrees = vec![0; self.blocks.len()];
        for bond in &self.bonds {
            degrees[bond.parent as usize] += 1;
            degrees[bond.child as usize] += 1;
        }
        degrees
    }

    /// The same tree with its blocks renumbered canonically: isomorphic trees (same classes,
    /// same bonds on the same atoms) give equal results.
    pub fn canonical(&self) -> BlockTree {
        let n = self.blocks.len();
        if n <= 1 {
            return BlockTree { blocks: self.blocks.clone(), bonds: Vec::new() };
        }
        // neighbours: (other block, atom here, atom there)
        let mut adjacency: Vec<Vec<(usize, u8, u8)>> = vec![Vec::new(); n];
        for b in &self.bonds {
            adjacency[b.parent as usize].push((b.child as usize, b.parent_atom, b.child_atom));
            adjacency[b.child as usize].push((b.parent as usize, b.child_atom, b.parent_atom));
        }
        let mut best: Option<Rooted> = None;
        for root in 0..n {
            let rooted = encode(&self.blocks, &adjacency, root, usize::MAX, ROOT_MARK);
            if best.as_ref().is_none_or(|b| rooted.code < b.code) {
                best = Some(rooted);
            }
        }
        let order = best.expect("a tree with blocks").preorder;
        let mut position = vec![0u8; n];
        for (new, visit) in order.iter().enumerate() {
            position[visit.block] = new as u8;
        }
        let blocks = order.iter().map(|visit| self.blocks[visit.block]).collect();
        let mut bonds: Vec<TreeBond> = order
            .iter()
            .filter(|visit| visit.parent != usize::MAX)
            .map(|visit| TreeBond {
                parent: position[visit.parent],
                child: position[visit.block],
                parent_atom: visit.parent_atom,
                child_atom: visit.child_atom,
            })
            .collect();
        bonds.sort_unstable();
        BlockTree { blocks, bonds }
    }

    /// The tree without block `removed`, which must have degree 1, renumbered (positions above
    /// `removed` shift down by one, not canonical), and the bond that held it.
    pub fn without_leaf(&self, removed: usize) -> (BlockTree, TreeBond) {
        let shift = |p: u8| if p as usize > removed { p - 1 } else { p };
        let mut blocks = self.blocks.clone();
        blocks.remove(removed);
        let mut cut = None;
        let mut bonds = Vec::with_capacity(self.bonds.len().saturating_sub(1));
        for &b in &self.bonds {
            if b.parent as usize == removed || b.child as usize == removed {
                cut = Some(b);
            } else {
                bonds.push(TreeBond { parent: shift(b.parent), child: shift(b.child), ..b });
            }
        }
        let cut = cut.expect("a leaf has one bond");
        (BlockTree { blocks, bonds }, cut)
    }
}

/// One block in a rooted traversal.
#[derive(Debug, Clone, Copy)]
struct Visit {
    block: usize,
    parent: usize,
    parent_atom: u8,
    child_atom: u8,
}

/// The canonical code of a rooted subtree and its blocks in canonical preorder.
struct Rooted {
    code: Vec<u16>,
    preorder: Vec<Visit>,
}

/// AHU code of the subtree at `block` entered from `parent` through this block's atom
/// `entry_atom`: `[class, entry atom, children, (atom here, child code)…]`, children sorted.
fn encode(
    classes: &[u16],
    adjacency: &[Vec<(usize, u8, u8)>],
    block: usize,
    parent: usize,
    entry_atom: u16,
) -> Rooted {
    let mut children: Vec<(Vec<u16>, Vec<Visit>)> = adjacency[block]
        .iter()
        .filter(|&&(other, _, _)| other != parent)
        .map(|&(other, here, there)| {
            let mut child = encode(classes, adjacency, other, block, there as u16);
            child.preorder[0].parent = block;
            child.preorder[0].parent_atom = here;
            child.preorder[0].child_atom = there;
            let mut code = Vec::with_capacity(child.code.len() + 1);
            code.push(here as u16);
            code.extend(child.code);
            (code, child.preorder)
        })
        .collect();
    children.sort_by(|a, b| a.0.cmp(&b.0));
    let mut code = vec![classes[block], entry_atom, children.len() as u16];
    let mut preorder = vec![Visit { block, parent: usize::MAX, parent_atom: 0, child_atom: 0 }];
    for (child_code, child_order) in children {
        code.extend(child_code);
        preorder.extend(child_order);
    }
    Rooted { code, preorder }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bond(parent: u8, child: u8, parent_atom: u8, child_atom: u8) -> TreeBond {
        TreeBond { parent, child, parent_atom, child_atom }
    }

    #[test]
    fn renumbered_trees_have_one_canonical_form() {
        // a path 7 –(0,1)– 3 –(2,0)– 5 written in two orders
        let a = BlockTree { blocks: vec![7, 3, 5], bonds: vec![bond(0, 1, 0, 1), bond(1, 2, 2, 0)] };
        let b = BlockTree { blocks: vec![5, 7, 3], bonds: vec![bond(2, 0, 2, 0), bond(1, 2, 0, 1)] };
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical().canonical(), a.canonical());
        // the same classes bonded on other atoms are another tree
        let c = BlockTree { blocks: vec![7, 3, 5], bonds: vec![bond(0, 1, 0, 1), bond(1, 2, 1, 0)] };
        assert_ne!(a.canonical(), c.canonical());
    }

    #[test]
    fn canonical_bonds_point_away_from_the_root() {
        let star = BlockTree {
            blocks: vec![1, 2, 2, 2],
            bonds: vec![bond(1, 0, 0, 0), bond(0, 2, 1, 0), bond(3, 0, 0, 2)],
        };
        let canonical = star.canonical();
        assert!(canonical.bonds.iter().all(|b| b.parent < b.child));
        assert_eq!(canonical.degrees().iter().sum::<usize>(), 6);
    }

    #[test]
    fn removing_a_leaf_renumbers_the_rest() {
        let path = BlockTree { blocks: vec![7, 3, 5], bonds: vec![bond(0, 1, 0, 1), bond(1, 2, 2, 0)] };
        let (rest, cut) = path.without_leaf(0);
        assert_eq!(rest.blocks, vec![3, 5]);
        assert_eq!(rest.bonds, vec![bond(0, 1, 2, 0)]);
        assert_eq!(cut, bond(0, 1, 0, 1));
    }
}
