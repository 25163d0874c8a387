//! Determinism is the product: a seed fixes the whole run, on any thread, every time.

use std::collections::BTreeSet;

use lifecycle_sim::scenario::workload::OpMix;
use lifecycle_sim::{FaultConfig, FaultMode, Model, Settings, run_once};

/// The digest and the timeline of `model` on the generated scenario of `seed`.
fn digest_and_timeline(model: Model, seed: u64) -> (u64, String) {
    let outcome = run_once(&model, &Settings::default(), seed);
    (outcome.history.digest(), outcome.history.timeline())
}

#[test]
fn the_same_seed_replays_the_same_history() {
    for model in Model::ALL {
        for seed in [0, 1, 17, 4242, u64::MAX] {
            let first = digest_and_timeline(model, seed);
            let second = digest_and_timeline(model, seed);
            assert_eq!(first, second, "{model} seed {seed} replayed differently");
        }
    }
}

#[test]
fn the_same_seed_replays_the_same_history_on_another_thread() {
    let here = digest_and_timeline(Model::Owned, 99);
    let there = std::thread::spawn(|| digest_and_timeline(Model::Owned, 99))
        .join()
        .unwrap();
    assert_eq!(here, there);
}

#[test]
fn different_seeds_give_different_histories() {
    let digests: BTreeSet<u64> = (0..100)
        .map(|seed| digest_and_timeline(Model::Owned, seed).0)
        .collect();
    assert_eq!(digests.len(), 100, "two of 100 seeds gave the same history");
}

#[test]
fn the_same_seed_replays_the_same_history_with_every_operation_kind() {
    // Refreshes, updates and reboots (a container that dies and hydrates) included.
    let settings = Settings {
        ops: Some(OpMix::every()),
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    };
    for model in Model::ALL {
        for seed in [3, 58, 901] {
            let run = move |settings: Settings| {
                let outcome = run_once(&model, &settings, seed);
                (outcome.history.digest(), outcome.history.timeline())
            };
            let first = run(settings.clone());
            let again = settings.clone();
            let second = std::thread::spawn(move || run(again)).join().unwrap();
            assert_eq!(first, second, "{model} seed {seed} replayed differently");
        }
    }
}
