//! The whole system over turmoil's network: the town's control plane dispatches to the
//! container's control server, whose manager runs on the fake backend. Each control call is
//! an HTTP request on a simulated TCP connection; partitions cut them.

use lifecycle_sim::Invariant;
use lifecycle_sim::scenario::faults::FaultConfig;
use lifecycle_sim::system::saved::SystemCase;
use lifecycle_sim::system::scenario::{Families, SystemSpec};
use lifecycle_sim::system::scene::SystemOutcome;
use lifecycle_sim::system::town::TownPolicy;
use lifecycle_sim::world::history::What;
use lifecycle_sim::{Model, Subject};

/// The scenario of `seed` with partitions as its only faults.
fn partitions_only(seed: u64, policy: TownPolicy) -> SystemSpec {
    let all = SystemSpec::from_seed(seed, policy, Families::All);
    SystemSpec {
        partitions: all.partitions,
        ..SystemSpec::from_seed(seed, policy, Families::None)
    }
}

fn owned(spec: &SystemSpec, seed: u64) -> SystemOutcome {
    Model::Owned
        .run_system(spec, seed)
        .expect("owned runs as a container")
}

fn run(policy: TownPolicy, seed: u64) -> SystemOutcome {
    owned(&partitions_only(seed, policy), seed)
}

fn first_violation(
    policy: TownPolicy,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, SystemOutcome)> {
    seeds
        .map(|seed| (seed, run(policy, seed)))
        .find(|(_, o)| o.violation.is_some())
}

#[test]
fn the_shipped_pair_holds_across_partitions() {
    // The production manager with fenced dispatches: no violation, every agent converged.
    if let Some((seed, o)) = first_violation(TownPolicy::Fenced, 0..100) {
        panic!("seed {seed}: {:?}\n{}", o.violation, o.history.timeline());
    }
}

/// #2022's argument against #2061, found: a dispatch whose answer a partition lost is written
/// off and dispatched again, though the container started it. The same seed under the code as
/// it ran (#1358, leave working) and under fenced dispatches holds.
#[test]
fn rolling_back_a_timed_out_dispatch_duplicates_one_the_container_started() {
    let (seed, found) =
        first_violation(TownPolicy::Rollback, 0..300).expect("a duplicate dispatch");
    let v = found.violation.as_ref().unwrap();
    assert_eq!(v.invariant, Invariant::S3, "{}", v.detail);
    assert!(
        v.detail.contains("but the container started it"),
        "{}",
        v.detail
    );
    assert!(
        found
            .dispatches
            .iter()
            .any(|d| d.written_off && d.outcome == "timed out"),
        "{:?}",
        found.dispatches
    );
    for policy in [TownPolicy::LeaveWorking, TownPolicy::Fenced] {
        let o = run(policy, seed);
        assert_eq!(o.violation, None, "{} seed {seed}", policy.name());
    }
}

#[test]
fn a_system_run_is_determined_by_its_seed() {
    for seed in 0..5 {
        let spec = SystemSpec::from_seed(seed, TownPolicy::Rollback, Families::All);
        let a = owned(&spec, seed);
        let b = owned(&spec, seed);
        assert_eq!(a.history.digest(), b.history.digest(), "seed {seed}");
        assert_eq!(a.dispatches, b.dispatches, "seed {seed}");
    }
}

/// With every backend fault family on as well (lost replies, late effects, hangs, crashes,
/// idle and error events), the shipped pair still holds.
#[test]
fn the_shipped_pair_holds_with_every_backend_fault_on() {
    for seed in 0..60 {
        let spec = SystemSpec {
            faults: FaultConfig::all(),
            ..partitions_only(seed, TownPolicy::Fenced)
        };
        let o = owned(&spec, seed);
        assert_eq!(o.violation, None, "seed {seed}\n{}", o.history.timeline());
    }
}

/// Every family on: the backend's faults, partitions, holds, failed connections, an
/// eviction (drain, kill, boot, hydration) and the town's stops. The shipped pair holds, and
/// the families did happen: holds were released, containers booted again and hydrated.
#[test]
fn the_shipped_pair_holds_with_every_family_on() {
    let (mut released, mut booted, mut hydrated, mut acked) = (0, 0, 0, 0);
    for seed in 0..60 {
        let spec = SystemSpec::from_seed(seed, TownPolicy::Fenced, Families::All);
        let o = owned(&spec, seed);
        assert_eq!(o.violation, None, "seed {seed}\n{}", o.history.timeline());
        for e in &o.history.events {
            match &e.what {
                What::Released => released += 1,
                What::Container(w) if w == "the container boots again" => booted += 1,
                What::Container(w) if w.starts_with("boot hydration starts") => hydrated += 1,
                What::Town(w) if w.starts_with("stop acknowledged") => acked += 1,
                _ => {}
            }
        }
    }
    assert!(released > 0 && booted > 0 && hydrated > 0 && acked > 0);
}

/// Swarm: each seed turns each family on or off, so seeds differ in which are on; the same
/// seed always draws the same.
#[test]
fn swarm_draws_the_families_per_seed() {
    let drawn: std::collections::BTreeSet<String> = (0..64)
        .map(|seed| SystemSpec::from_seed(seed, TownPolicy::Fenced, Families::Swarm).families())
        .collect();
    assert!(drawn.len() > 8, "{drawn:?}");
    for seed in 0..16 {
        assert_eq!(
            SystemSpec::from_seed(seed, TownPolicy::Fenced, Families::Swarm),
            SystemSpec::from_seed(seed, TownPolicy::Fenced, Families::Swarm)
        );
    }
    let none = SystemSpec::from_seed(3, TownPolicy::Fenced, Families::None);
    assert_eq!(none.families(), "none");
    assert_eq!(none.faults, FaultConfig::none());
}

/// The system regression store: each case in `tests/cases/system/` (saved by `system
/// --shrink --save`) reaches its recorded verdict on every model it names.
#[test]
fn every_saved_system_case_reaches_its_recorded_verdict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/system");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    for path in paths {
        let case = SystemCase::from_json(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!case.expect.is_empty(), "{}", path.display());
        for (name, expected) in &case.expect {
            let model = Model::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("no model named {name}"));
            let got = model
                .system_verdict(&case.spec, case.seed)
                .map_or("pass".into(), |i| i.code());
            assert_eq!(&got, expected, "{} on {name}", path.display());
        }
    }
}

/// Heartbeats resume after a partition: the control server's sender once awaited each
/// heartbeat with no bound, so one request hung by a partition stopped every later round, and
/// the town re-dispatched the agent every liveness period for ever (S2 names it: working with
/// no heartbeat). Seed 4 cuts the network from 2,635 ms to 4,004 ms.
#[test]
fn heartbeats_resume_after_a_partition() {
    let spec = partitions_only(4, TownPolicy::Fenced);
    assert_eq!(spec.partitions, [(2635, 4004)]);
    let o = owned(&spec, 4);
    assert_eq!(o.violation, None, "{}", o.history.timeline());
    let heard_after =
        o.history.events.iter().any(|e| {
            e.at_ms > 4004 && matches!(&e.what, What::Town(w) if w.starts_with("heartbeat"))
        });
    let redispatched = o.dispatches.iter().filter(|d| d.sent_ms > 4004).count();
    assert!(heard_after || redispatched <= 1, "{}", o.history.timeline());
}
