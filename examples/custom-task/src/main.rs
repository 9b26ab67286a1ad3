//! `motifs`: every gfn command (train, launch, sample, learner, actor) for the built-in tasks
//! and the motif task of `motifs.rs`.

mod motifs;

use gfn::Tasks;

fn main() -> std::process::ExitCode {
    gfn::main(gfn::BuiltinTasks::default().with::<motifs::MotifTask>())
}
