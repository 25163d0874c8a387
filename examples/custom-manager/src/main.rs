//! The harness's CLI on this crate's manager and the production one:
//! `cargo run -p custom-manager -- explore --model naive --seeds 0..200`.

use lifecycle_sim::{Model, Subject};

fn main() -> std::process::ExitCode {
    let subjects: Vec<Box<dyn Subject>> = vec![
        Box::new(custom_manager::naive()),
        Box::new(custom_manager::screened::screened()),
        Box::new(custom_manager::messaging::messaging()),
        Box::new(Model::Owned),
    ];
    lifecycle_sim::cli::main_with(subjects)
}
