//! Runs one race of the panel's scenarios in a loop, for a profiler: `cargo run --release -p
//! head-to-head --example race_loop -- <race name part> <strategy: random|pct|dfs> <runs>`.

use head_to_head::load_panel;
use head_to_head::panel::workspace_root;
use lifecycle_sim::Scenario;
use lifecycle_sim::scenario::spec::{ScenarioSpec, Strategy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (part, strategy, runs) = (&args[1], &args[2], args[3].parse::<u64>().unwrap());
    let panel =
        load_panel(&workspace_root().join("crates/head-to-head/panel.json")).expect("the panel");
    let race = panel
        .iter()
        .find(|r| r.name.contains(part.as_str()))
        .expect("a race");
    let strategy = Strategy::parse(strategy, 3).expect("a strategy");
    let spec = ScenarioSpec {
        strategy,
        ..race.spec.clone()
    };
    let subject = race.target.subject();
    let began = std::time::Instant::now();
    let mut found = 0;
    let mut elapsed_ms = 0;
    let mut views = 0;
    for seed in 0..runs {
        let outcome = Scenario::with_spec(seed, spec.clone()).run(subject.as_ref());
        found += u64::from(
            outcome
                .violation
                .as_ref()
                .is_some_and(|v| v.invariant == race.invariant),
        );
        if seed < 5
            && let Some(v) = &outcome.violation
        {
            println!("seed {seed}: {} {}", v.invariant, v.detail);
        }
        elapsed_ms += outcome.elapsed.as_millis() as u64;
        views += outcome.views;
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "{}: {runs} runs, {found} found, {:.1} us a run, {} simulated ms and {} views a run",
        race.name,
        secs * 1e6 / runs as f64,
        elapsed_ms / runs,
        views / runs
    );
}
