//! A training observer that drives a terminal progress bar and writes the JSON-lines log.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use gfn_common::task::evaluation::write_shared;
use gfn_common::task::{Evaluated, SharedLog};
use gfn_common::training::TrainingObserver;

/// Progress bar plus optional JSON-lines log; prints one line per evaluation.
pub struct ProgressView {
    bar: ProgressBar,
    log: Option<SharedLog>,
    log_error: Option<std::io::Error>,
}

impl ProgressView {
    /// A view over `total` updates starting at `start`; hidden when `visible` is false.
    pub fn new(total: u64, start: u64, visible: bool, log: Option<SharedLog>) -> Self {
        let target =
            if visible { ProgressDrawTarget::stderr_with_hz(4) } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} updates {per_sec} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(start);
        Self { bar, log, log_error: None }
    }

    /// Clears the bar; returns the first log write error, if any.
    pub fn finish(self) -> Option<std::io::Error> {
        self.bar.finish_and_clear();
        self.log_error
    }
}

impl TrainingObserver for ProgressView {
    fn on_update(&mut self, update: u64, _loss: f64) {
        self.bar.set_position(update);
    }

    fn on_evaluation(&mut self, evaluated: &Evaluated) {
        if let Some(l1) = evaluated.exact_l1() {
            self.bar.set_message(format!("L1 {l1:.4}"));
        }
        if self.bar.is_hidden() {
            println!("{}", evaluated.line);
        } else {
            self.bar.println(&evaluated.line);
        }
        if let Some(log) = &self.log
            && let Err(error) = write_shared(log, &evaluated.record)
        {
            self.log_error.get_or_insert(error);
        }
    }

    fn on_checkpoint(&mut self, path: &std::path::Path) {
        tracing::debug!(path = %path.display(), "checkpoint written");
    }
}
