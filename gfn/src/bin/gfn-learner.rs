//! `gfn-learner`: the central learner of a distributed run, for the built-in tasks.

fn main() -> std::process::ExitCode {
    gfn::learner_main(gfn::BuiltinTasks::default())
}
