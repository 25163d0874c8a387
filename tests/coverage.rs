//! What a clean run proves: every coverage point of each model's code (and the world points
//! the harness requires) is reached by the CI sweep, or its catalog says why it cannot be;
//! and each catalog lists exactly the points its code declares.

use std::collections::BTreeSet;
use std::path::Path;

use lifecycle_sim::coverage::points_in_sources;
use lifecycle_sim::scenario::workload::OpMix;
use lifecycle_sim::scenario::workload::WorkloadShape;
use lifecycle_sim::testing::coverage_of;
use lifecycle_sim::{FaultConfig, FaultMode, Model, Settings, Subject};

fn declared_in(crate_dir: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    points_in_sources(&dir).expect("the crate's sources are readable")
}

fn names(points: impl IntoIterator<Item = agent_lifecycle::point::Point>) -> BTreeSet<String> {
    points.into_iter().map(|p| p.name.to_string()).collect()
}

#[test]
fn owneds_catalog_lists_exactly_the_points_in_its_code() {
    let catalog = names(agent_lifecycle::point::POINTS.iter().copied());
    assert_eq!(
        catalog.len(),
        agent_lifecycle::point::POINTS.len(),
        "a point is listed twice"
    );
    assert_eq!(catalog, declared_in("crates/agent-lifecycle"));
}

#[test]
fn the_models_catalogs_list_exactly_the_points_in_their_code() {
    let all = names(lifecycle_models::points::all());
    assert_eq!(all, declared_in("crates/lifecycle-models"));
    // Each model's catalog is its own share of them, and every shared point is some model's.
    let per_model = [
        names(lifecycle_models::points::legacy()),
        names(lifecycle_models::points::abort_token()),
        names(lifecycle_models::points::start_lock()),
    ];
    for catalog in &per_model {
        assert!(catalog.is_subset(&all));
    }
    let union: BTreeSet<String> = per_model.into_iter().flatten().collect();
    assert_eq!(union, all);
}

#[test]
fn every_point_a_catalog_calls_unreachable_is_a_point_it_knows() {
    for model in Model::ALL {
        let catalog = model.catalog();
        let known: BTreeSet<&str> = catalog.all().collect();
        for (point, why) in &catalog.unreachable {
            assert!(known.contains(point), "{model}: `{point}` is not a point");
            assert!(!why.is_empty(), "{model}: `{point}` needs a reason");
        }
    }
}

/// The CI sweep: generated scenarios with every default fault family on, and swarm
/// scenarios, each with a workdir per agent (the default) and with shared workdirs (as the
/// triage and mayor workspaces share one: docs/real-system.md, "Who shares a workdir"); and
/// every family on with the opt-in, hypothetical `stream-errors` too, the only way a dead
/// server's stream throws (docs/real-system.md, "Fault families").
fn ci_sweep(model: Model) {
    let shared = WorkloadShape {
        shared_workdirs: true,
        ..WorkloadShape::default()
    };
    let settings = [
        Settings {
            faults: FaultMode::Fixed(FaultConfig::all()),
            ..Settings::default()
        },
        Settings::default(),
        Settings {
            shape: shared.clone(),
            faults: FaultMode::Fixed(FaultConfig::all()),
            ..Settings::default()
        },
        Settings {
            shape: shared,
            ..Settings::default()
        },
        Settings {
            faults: FaultMode::Fixed(FaultConfig::all()),
            opt_in: FaultConfig::none()
                .with_opt_in("stream-errors")
                .expect("stream-errors is an opt-in family"),
            ..Settings::default()
        },
        // Refreshes, updates and reboots too, each agent apart and sharing.
        Settings {
            ops: Some(OpMix::every()),
            faults: FaultMode::Fixed(FaultConfig::all()),
            ..Settings::default()
        },
        Settings {
            ops: Some(OpMix::every()),
            shape: WorkloadShape {
                shared_workdirs: true,
                ..WorkloadShape::default()
            },
            ..Settings::default()
        },
    ];
    // The refresh and update paths' rarer branches (a refresh's spawn failing, the reaper
    // finding nothing, a count missed) take more seeds: refreshes and updates among starts and
    // stops, agents sharing workdirs, every fault on.
    let restarts = Settings {
        ops: Some("start,restart,stop,refresh,update".parse().unwrap()),
        shape: WorkloadShape {
            shared_workdirs: true,
            ..WorkloadShape::default()
        },
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    };
    coverage_of(&model, &settings, 0..3000)
        .and(coverage_of(&model, &[restarts], 0..20_000))
        .assert_reaches_every_required_point();
}

#[test]
fn the_ci_sweep_reaches_every_required_point_of_owned() {
    ci_sweep(Model::Owned);
}

#[test]
fn the_ci_sweep_reaches_every_required_point_of_legacy() {
    ci_sweep(Model::Legacy);
}

#[test]
fn the_ci_sweep_reaches_every_required_point_of_abort_token() {
    ci_sweep(Model::AbortToken);
}

#[test]
fn the_ci_sweep_reaches_every_required_point_of_start_lock() {
    ci_sweep(Model::StartLock);
}

#[test]
fn every_built_in_point_has_a_libfuzzer_counter_of_its_own() {
    let mut names: BTreeSet<&str> = lifecycle_sim::coverage::world::WORLD_POINTS
        .iter()
        .copied()
        .collect();
    names.extend(agent_lifecycle::point::POINTS.iter().map(|p| p.name));
    names.extend(lifecycle_models::points::all().iter().map(|p| p.name));
    let slots: BTreeSet<usize> = names
        .iter()
        .map(|n| lifecycle_sim::fuzzing::counter_slot(n))
        .collect();
    assert_eq!(slots.len(), names.len(), "two points share a counter");
}
