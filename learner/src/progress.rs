//! A training observer that drives a terminal progress bar and writes the JSON-lines log.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use gfn_common::metrics::{EvaluationRecord, JsonLinesLog};
use gfn_common::trainer::TrainingObserver;

/// Progress bar plus optional JSON-lines log; prints one line per evaluation.
pub struct ProgressView {
    bar: ProgressBar,
    log: Option<JsonLinesLog>,
    log_error: Option<std::io::Error>,
}

impl ProgressView {
    /// A view over `total` updates starting at `start`; hidden when `visible` is false.
    pub fn new(total: u64, start: u64, visible: bool, log: Option<JsonLinesLog>) -> Self {
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

    fn on_evaluation(&mut self, record: &EvaluationRecord) {
        let line = evaluation_line(record);
        self.bar.set_message(format!("L1 {:.4}", record.exact_l1));
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
        if let Some(log) = &mut self.log
            && let Err(error) = log.write(record)
        {
            self.log_error.get_or_insert(error);
        }
    }

    fn on_checkpoint(&mut self, path: &std::path::Path) {
        tracing::debug!(path = %path.display(), "checkpoint written");
    }
}

/// One human-readable line per evaluation, as printed by `gfn train` and `gfn-learner`.
pub fn evaluation_line(record: &EvaluationRecord) -> String {
    format!(
        "update {:>6}  trajectories {:>8}  loss {:>9.5}  exact L1 {:.4}{}  modes {}/{}  logZ {:.3} (true {:.3})",
        record.update,
        record.trajectories,
        record.loss,
        record.exact_l1,
        record.empirical_l1.map(|l| format!("  empirical L1 {l:.4}")).unwrap_or_default(),
        record.modes_found,
        record.num_modes,
        record.learned_log_z.unwrap_or(f64::NAN),
        record.true_log_z.unwrap_or(f64::NAN),
    )
}
