//! `gfn-actor`: rolls out trajectories and computes rewards for a learner, for the built-in tasks.

fn main() -> std::process::ExitCode {
    gfn::actor_main(gfn::BuiltinTasks::default())
}
