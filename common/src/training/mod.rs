//! Training: the one loop every training process runs ([`TrainingLoop`], fed and heard by a
//! [`LoopHost`]), the progress it checkpoints ([`RunProgress`]), and training in one process
//! ([`train_task`], with batches from a [`batch_source`]). The distributed learner hosts the
//! same loop with its ingest queue as the batch source (`gfn-learner`'s `training` module).

pub mod batch_source;
pub mod local;
pub mod progress;
pub mod run_loop;

pub use local::{Silent, TrainOptions, TrainSummary, TrainingObserver, train, train_task, train_with_hooks};
pub use progress::{RunProgress, resume, save_checkpoint};
pub use run_loop::{
    Batch, Flow, LoopHost, LoopOutcome, TimeBreakdown, TrainError, TrainingLoop, UpdateReport,
};
