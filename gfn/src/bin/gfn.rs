//! `gfn`: training, launching, sampling, and the learner and actor processes, for the built-in
//! tasks.

fn main() -> std::process::ExitCode {
    gfn::main(gfn::BuiltinTasks::default())
}
