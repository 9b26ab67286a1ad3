//! The paper's 105-block fragment environment, as the molecule tests build and walk it.

use gfn_common::env::fragments::FragmentLimits;
use gfn_common::env::{Action, Environment, FragmentEnvironment};

use super::data::vocabulary;

/// The environment on the paper's blocks with the default limits.
pub fn environment() -> FragmentEnvironment {
    FragmentEnvironment::load(&vocabulary(), FragmentLimits::default()).unwrap()
}

/// The actions allowed from `state`.
pub fn allowed(
    env: &FragmentEnvironment,
    state: &<FragmentEnvironment as Environment>::State,
) -> Vec<Action> {
    let mut mask = vec![false; env.num_actions()];
    env.forward_mask(state, &mut mask);
    (0..env.num_actions() as Action).filter(|&a| mask[a as usize]).collect()
}
