//! The ambiguity model (issue 9): a call that failed or timed out may still take effect. A
//! manager that assumes "a call that timed out did nothing" must be caught. It is played here
//! by `owned` itself, told that requests never outlive their timeout
//! (`request_lifetime` 0): it then reconciles a failed create at once, and a create that lands
//! after that listing leaves a session nothing tracks.

use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{FaultMode, Model, Scenario, Settings};

fn all_faults() -> Settings {
    Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    }
}

#[test]
fn a_manager_that_trusts_a_timed_out_call_did_nothing_is_caught_within_20000_seeds() {
    let settings = all_faults();
    let found = (0..20_000).find_map(|seed| {
        let mut spec = Scenario::from_seed(&settings, seed).spec;
        spec.timing.request_lifetime_ms = Some(0);
        let outcome = Scenario::with_spec(seed, spec.clone()).run(Model::Owned);
        outcome.violation.is_some().then_some((seed, spec, outcome))
    });
    let (seed, spec, outcome) = found.expect("no seed of 20,000 caught the naive manager");
    let report = scenario_report(Model::Owned, &Origin::seed(seed), &spec, &outcome);
    // The finding is the ambiguity's: something landed that its caller never heard of.
    assert!(
        report.contains("landed at the server"),
        "seed {seed} failed for another reason:\n{report}"
    );
    // Told the truth, the same manager passes the same scenario.
    let truthful = Scenario::from_seed(&settings, seed).run(Model::Owned);
    assert!(
        truthful.violation.is_none(),
        "{}",
        scenario_report(
            Model::Owned,
            &Origin::seed(seed),
            &Scenario::from_seed(&settings, seed).spec,
            &truthful
        )
    );
}

#[test]
fn late_effects_and_lost_replies_fire_and_land_in_the_timeline() {
    let settings = all_faults();
    let (mut late, mut lost) = (0, 0);
    for seed in 0..300 {
        let outcome = Scenario::from_seed(&settings, seed).run(Model::Owned);
        assert!(outcome.violation.is_none(), "seed {seed}");
        let timeline = outcome.history.timeline();
        late += timeline.matches("after its caller gave up").count();
        lost += timeline.matches("its reply is lost").count();
    }
    assert!(late > 20 && lost > 20, "late {late}, lost {lost}");
}
