//! Time that jumps to the next event (harness version 3, and under every strategy from version
//! 4): the same stories and generated scenarios as version 2, judged the same way, with the
//! milliseconds in which nothing happens skipped, so that real timing constants cost nothing.

use lifecycle_sim::scenario::spec::{CLOCKWORK_VERSION, STEPPING_VERSION, Strategy, VERSION};
use lifecycle_sim::world::history::What;
use lifecycle_sim::{
    Case, FaultConfig, FaultMode, Invariant, Model, Scenario, Settings, Story, Timing,
    check_random, replay, run_once,
};
use race_regressions::stories::restart_during_create_on_a_shared_server;
use race_regressions::verdicts;

fn jumping(faults: FaultMode) -> Settings {
    Settings {
        faults,
        version: CLOCKWORK_VERSION,
        ..Settings::default()
    }
}

#[test]
fn owned_holds_over_500_all_fault_seeds_with_time_jumps() {
    let settings = jumping(FaultMode::Fixed(FaultConfig::all()));
    check_random(&Model::Owned, &settings, 500).assert_holds();
    let outcome = run_once(&Model::Owned, &settings, 0);
    assert!(
        outcome
            .history
            .events
            .iter()
            .any(|e| matches!(e.what, What::OpIssued(..)))
    );
}

#[test]
fn pre_still_leaks_on_the_1341_story_with_time_jumps() {
    let story = restart_during_create_on_a_shared_server().time_jumps();
    assert_eq!(story.spec().version, VERSION);
    let found = verdicts(&Model::Legacy, &story, 0..30);
    assert!(
        found
            .iter()
            .all(|v| matches!(v, Some(Invariant::I1 | Invariant::I5))),
        "{found:?}"
    );
    check_random(&Model::Owned, &story, 100).assert_holds();
}

#[test]
fn a_time_jumping_run_replays_exactly_from_its_case() {
    let settings = jumping(FaultMode::Swarm);
    for seed in 0..40 {
        let first = run_once(&Model::Legacy, &settings, seed);
        let again = run_once(&Model::Legacy, &settings, seed);
        assert_eq!(
            first.history.digest(),
            again.history.digest(),
            "seed {seed}"
        );
        let spec = Scenario::from_seed(&settings, seed).spec;
        let case = Case::of_run(Some(seed), &spec, &first);
        assert_eq!(case.spec.version, CLOCKWORK_VERSION);
        let case = Case::from_json(&case.to_json()).unwrap();
        let replayed = replay(&Model::Legacy, &case);
        assert_eq!(
            replayed.history.digest(),
            first.history.digest(),
            "seed {seed}"
        );
        assert_eq!(replayed.violation, first.violation);
    }
}

/// The real constants: a 60 s call timeout, a 120 s idle timeout, latencies up to 2 s. A
/// scenario then lasts minutes of simulated time, and is still cheap.
#[test]
fn real_timing_constants_run_with_time_jumps() {
    let settings = Settings {
        timing: Timing::real(),
        ..jumping(FaultMode::Fixed(FaultConfig::all()))
    };
    check_random(&Model::Owned, &settings, 30).assert_holds();
    let outcome = run_once(&Model::Owned, &settings, 1);
    assert!(
        outcome.elapsed.as_secs() >= 120,
        "only {:?} simulated",
        outcome.elapsed
    );
}

/// An eviction bounces the container at the next tick (half the call timeout, 50 ms here): a
/// start after it finds a fresh container and succeeds.
#[test]
#[rustfmt::skip]
fn an_eviction_reboots_the_container_and_later_starts_succeed() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0").at_ms(0)
        .evict().at_ms(80)
        .start("a0").at_ms(200)
        .time_jumps();
    check_random(&Model::Owned, &story, 50).assert_holds();
    let outcome = run_once(&Model::Owned, &story, 0);
    let bounce = outcome.history.events.iter().find(|e| matches!(e.what, What::Bounce)).expect("a bounce");
    let evicted = outcome.history.events.iter().find(|e| matches!(e.what, What::OpReturned(1, ..))).expect("the eviction returned");
    assert!(bounce.at_ms >= evicted.at_ms && bounce.at_ms - evicted.at_ms <= story.spec().timing.call_timeout_ms / 2, "{} then {}", evicted.at_ms, bounce.at_ms);
    assert!(outcome.history.events.iter().any(|e| matches!(&e.what, What::OpReturned(2, _, Ok(())))), "{}", outcome.history.timeline());
}

/// Time jumps are the default; millisecond steps (version 2) stay one call away, judge the
/// #1341 story the same, and advance one turmoil step a millisecond.
#[test]
fn millisecond_steps_remain_available_and_find_the_same_leak() {
    assert_eq!(Settings::default().version, VERSION);
    let story = restart_during_create_on_a_shared_server().ms_steps();
    assert_eq!(story.spec().version, STEPPING_VERSION);
    let found = verdicts(&Model::Legacy, &story, 0..30);
    assert!(
        found
            .iter()
            .all(|v| matches!(v, Some(Invariant::I1 | Invariant::I5))),
        "{found:?}"
    );
    check_random(&Model::Owned, &story, 100).assert_holds();
    // One view a millisecond: a passing run judged every millisecond it lasted.
    let outcome = run_once(&Model::Owned, &story, 0);
    assert_eq!(outcome.violation, None);
    assert_eq!(outcome.views, outcome.elapsed.as_millis() as u64);
    let jumping = run_once(
        &Model::Owned,
        &restart_during_create_on_a_shared_server(),
        0,
    );
    assert!(
        jumping.views * 3 < jumping.elapsed.as_millis() as u64,
        "{} views in {:?}",
        jumping.views,
        jumping.elapsed
    );
}

/// From version 4 the strategies that take one step at a time jump too: a pct, walk or dfs
/// scenario is judged at fewer looks than it has simulated milliseconds, finds #1341 on the
/// story as before, and replays exactly; a version 3 scenario of theirs still steps every
/// millisecond.
#[test]
fn step_strategies_jump_from_version_4_and_step_in_version_3() {
    let story = restart_during_create_on_a_shared_server();
    for strategy in [Strategy::Pct { depth: 3 }, Strategy::Walk, Strategy::Dfs] {
        let spec = story.spec_with(strategy);
        assert_eq!(spec.version, VERSION);
        assert!(spec.jumps_time(), "{strategy:?}");
        let mut found = false;
        let (mut views, mut ms) = (0, 0);
        for seed in 0..30 {
            let outcome = Scenario::with_spec(seed, spec.clone()).run(&Model::Legacy);
            views += outcome.views;
            ms += outcome.elapsed.as_millis() as u64;
            found |= outcome.violation.is_some();
            let again = Scenario::with_spec(seed, spec.clone()).run(&Model::Legacy);
            assert_eq!(outcome.history.digest(), again.history.digest());
        }
        assert!(found, "{strategy:?} never found #1341 in 30 seeds");
        assert!(views < ms, "{strategy:?}: {views} views in {ms} ms");
        let stepping = lifecycle_sim::ScenarioSpec {
            version: CLOCKWORK_VERSION,
            ..spec.clone()
        };
        assert!(!stepping.jumps_time(), "{strategy:?} in version 3");
        let jumping = Scenario::with_spec(0, spec.clone()).run(&Model::Legacy);
        let stepped = Scenario::with_spec(0, stepping).run(&Model::Legacy);
        assert!(
            stepped.views > jumping.views,
            "{strategy:?}: {} views stepping, {} jumping",
            stepped.views,
            jumping.views
        );
    }
}
