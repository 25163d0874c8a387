//! The ambiguity model (issue 9): a call that failed or timed out may still take effect. A
//! manager that assumes "a call that timed out did nothing" must be caught. It is played here
//! by `owned` itself, told that requests never outlive their timeout
//! (`request_lifetime` 0): it then reconciles a failed create at once, and a create that lands
//! after that listing leaves a session nothing tracks.

use lifecycle_sim::{FaultConfig, FaultMode, Model, Settings, Timing, check_random, run_once};

/// Generated scenarios with every fault family on: late effects and lost replies among them.
fn all_faults() -> Settings {
    Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    }
}

/// The same scenarios, run by a manager told that a request never outlives its timeout.
fn all_faults_told_a_timed_out_call_did_nothing() -> Settings {
    Settings {
        timing: Timing {
            request_lifetime_ms: Some(0),
            ..Timing::default()
        },
        ..all_faults()
    }
}

#[test]
fn a_manager_that_trusts_a_timed_out_call_did_nothing_is_caught_within_20000_seeds() {
    let naive = all_faults_told_a_timed_out_call_did_nothing();
    let finding = check_random(&Model::Owned, &naive, 20_000)
        .finding
        .expect("no seed of 20,000 caught the naive manager");
    let seed = finding.seed.expect("a seed found it");
    let report = finding.report(Model::Owned.name());
    // The finding is the ambiguity's: something landed that its caller never heard of.
    assert!(
        report.contains("landed at the server"),
        "seed {seed} failed for another reason:\n{report}"
    );
    // Told the truth, the same manager passes the same scenarios: every seed up to that one.
    check_random(&Model::Owned, &all_faults(), seed + 1).assert_holds();
}

#[test]
fn late_effects_and_lost_replies_fire_and_land_in_the_timeline() {
    let (mut late, mut lost) = (0, 0);
    for seed in 0..300 {
        let outcome = run_once(&Model::Owned, &all_faults(), seed);
        assert!(outcome.violation.is_none(), "seed {seed}");
        let timeline = outcome.history.timeline();
        late += timeline.matches("after its caller gave up").count();
        lost += timeline.matches("its reply is lost").count();
    }
    assert!(late > 20 && lost > 20, "late {late}, lost {lost}");
}

mod dropped_halfway {
    //! A manager whose operations are not drop-safe: its start awaits the backend with its
    //! bookkeeping half done, so a caller that goes away (the `drops` family) leaves a session
    //! created and never recorded. Correct when nobody drops it.

    use lifecycle_sim::{FaultConfig, Model, Story, check_random};
    use race_regressions::naive::naive;

    /// One agent, started once: nothing races it but its own caller going away.
    #[rustfmt::skip]
    fn one_start(drops: u32) -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0").at_ms(1)
            .faults(FaultConfig { drops, ..FaultConfig::none() })
    }

    #[test]
    fn a_manager_left_halfway_by_a_dropped_caller_is_caught_and_owned_is_not() {
        // Right when not dropped.
        check_random(&naive(), &one_start(0), 50).assert_holds();
        let finding = check_random(&naive(), &one_start(100), 200)
            .finding
            .expect("no dropped start left the naive manager inconsistent");
        let timeline = finding.outcome.history.timeline();
        assert!(
            timeline.contains("dropped: its caller went away"),
            "{timeline}"
        );
        check_random(&Model::Owned, &one_start(100), 200).assert_holds();
    }
}

/// Only a call that may still land is worth waiting out: an answer of `Gone` (the session or
/// server is not there) settles at once, so an eviction after one does not wait for the
/// request lifetime.
mod settled {
    use lifecycle_sim::world::history::What;
    use lifecycle_sim::{FaultConfig, Model, Story, run_once};

    #[test]
    fn an_eviction_does_not_wait_out_calls_that_answered_gone() {
        let story = || {
            Story::new()
                .agents(["a0"])
                .start("a0")
                .at_ms(0)
                .evict()
                .at_ms(150)
                .faults(FaultConfig {
                    server_crashes: 1,
                    ..FaultConfig::none()
                })
        };
        let lifetime = story().spec().manager_config().request_lifetime.as_millis() as u64;
        let mut judged = 0;
        for seed in 0..200 {
            let outcome = run_once(&Model::Owned, &story(), seed);
            let events = &outcome.history.events;
            let issued = events.iter().find(|e| {
                matches!(
                    e.what,
                    What::OpIssued(_, lifecycle_sim::scenario::workload::OpKind::Evict)
                )
            });
            let Some(issued) = issued else { continue };
            let errors: Vec<&str> = events
                .iter()
                .filter(|e| e.at_ms <= issued.at_ms)
                .filter_map(|e| match &e.what {
                    What::CallReturned { reply, .. } if reply.starts_with("error") => {
                        Some(reply.as_str())
                    }
                    _ => None,
                })
                .collect();
            // Only runs whose failed answers before the eviction were all `Gone`.
            if errors.is_empty() || !errors.iter().all(|r| r.starts_with("error (gone")) {
                continue;
            }
            let returned = events
                .iter()
                .find(|e| {
                    matches!(
                        e.what,
                        What::OpReturned(_, lifecycle_sim::scenario::workload::OpKind::Evict, _)
                    )
                })
                .expect("the eviction returns");
            judged += 1;
            assert!(
                returned.at_ms - issued.at_ms < lifetime,
                "seed {seed}: the eviction waited {} ms after only Gone answers (the request lifetime is {lifetime} ms)\n{}",
                returned.at_ms - issued.at_ms,
                outcome.history.timeline()
            );
        }
        assert!(
            judged >= 10,
            "only {judged} runs had a Gone answer before the eviction"
        );
    }
}
