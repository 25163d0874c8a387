//! `lifecycle-sim`: the harness's CLI on the built-in subjects (the three historical models
//! and the production manager).

fn main() -> std::process::ExitCode {
    lifecycle_sim::cli::main_with(lifecycle_sim::Model::subjects())
}
