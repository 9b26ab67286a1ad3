//! Training objectives. Each turns a batch of replayed trajectories and the network's log edge
//! flows into a scalar loss.

pub mod flow_matching;

pub use flow_matching::{FlowMatching, FlowMatchingBatch, TermWeighting};
