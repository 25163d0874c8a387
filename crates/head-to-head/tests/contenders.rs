//! The contenders' machinery does what the table says it does.

use std::path::PathBuf;
use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, SessionBackend, Workdir};
use head_to_head::contenders::stress::Stress;
use head_to_head::contenders::turmoil_alone::play_on_turmoil;
use head_to_head::contenders::{Clock, Contender};
use head_to_head::plain_backend::PlainBackend;
use head_to_head::sequential::sequential;
use head_to_head::table::{Attempt, Tally, render};
use head_to_head::{Race, RealBug, Target, load_panel};
use lifecycle_sim::scenario::workload::OpKind;
use lifecycle_sim::{FaultConfig, Scenario};

// The bench's peers, compiled here too so that a test can run their campaigns.
#[path = "../benches/head_to_head/proptest_machine.rs"]
mod proptest_machine;
#[allow(dead_code)]
#[path = "../benches/head_to_head/quiet.rs"]
mod quiet;
#[path = "../benches/head_to_head/roster.rs"]
mod roster;
#[path = "../benches/head_to_head/shuttle_check/mod.rs"]
mod shuttle_check;

fn panel() -> Vec<Race> {
    load_panel(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("panel.json"))
        .expect("the panel loads")
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// Every race of the panel is a real finding: the harness finds it on its manager within a
/// few hundred seeds, and the fixed manager (`owned` for a model, the fixed manager for a real
/// bug) passes the same workload.
#[test]
fn every_race_is_found_by_the_harness_and_passed_by_the_fix() {
    for race in panel() {
        let (buggy, fixed) = (race.target.subject(), race.target.fixed().subject());
        let found = (0..2000).find(|&seed| {
            Scenario::with_spec(seed, race.spec.clone())
                .run(buggy.as_ref())
                .violation
                .is_some_and(|v| v.invariant == race.invariant)
        });
        assert!(found.is_some(), "{}: not found in 2000 seeds", race.name);
        for seed in 0..200 {
            let outcome = Scenario::with_spec(seed, race.spec.clone()).run(fixed.as_ref());
            assert!(
                outcome.violation.is_none(),
                "{}: {} fails seed {seed}: {:?}",
                race.name,
                fixed.name(),
                outcome.violation
            );
        }
    }
}

/// The races on the real bugs' pre-fix managers (`crates/real-bugs`).
fn real_bug_races() -> Vec<Race> {
    panel()
        .into_iter()
        .filter(|r| matches!(r.target, Target::RealBug { .. }))
        .collect()
}

/// The deeper panel has one race per real bug, each on its pre-fix manager (that the harness
/// finds each is `every_race_is_found_by_the_harness_and_passed_by_the_fix`, by seeds, not time).
#[test]
fn every_real_bug_has_a_race_on_its_pre_fix_manager() {
    let races = real_bug_races();
    let mut bugs: Vec<RealBug> = races
        .iter()
        .map(|r| match r.target {
            Target::RealBug { bug, fixed } => {
                assert!(!fixed, "{}: a race is on a pre-fix manager", r.name);
                bug
            }
            Target::Model(_) => unreachable!("filtered"),
        })
        .collect();
    bugs.dedup();
    assert_eq!(
        bugs,
        RealBug::ALL,
        "one race per real bug, in the panel's order"
    );
}

/// Every contender hunts every real bug's race it can express, in a short campaign that does
/// not break; those that cannot are exactly the ones the table says so of, with a reason.
#[test]
fn every_contender_hunts_the_real_bugs_or_says_why_it_cannot() {
    let _turn = PEERS.lock().unwrap_or_else(|p| p.into_inner());
    let mut cannot = Vec::new();
    for race in real_bug_races() {
        for contender in &every_contender() {
            if let Some(why) = contender.cannot(&race) {
                assert!(!why.is_empty());
                cannot.push(format!("{} <- {}", race.target.name(), contender.name()));
                continue;
            }
            let attempt = contender.campaign(&race, 0, Duration::from_millis(200));
            assert!(
                attempt.tries > 0,
                "{} <- {}: no try",
                race.name,
                contender.name()
            );
        }
    }
    assert_eq!(
        cannot,
        [
            "refresh-orphan-pre <- shuttle check_random",
            "refresh-orphan-pre <- shuttle check_pct (depth 3)",
            "stuck-starting-pre <- shuttle check_random",
            "stuck-starting-pre <- shuttle check_pct (depth 3)",
        ]
    );
}

/// The bench's peers swap the process's panic hook while a campaign runs (`quiet`): the tests
/// that run them take turns.
static PEERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every contender of the bench (the stress test on two cores, eight plays at once).
fn every_contender() -> Vec<Box<dyn Contender>> {
    roster::contenders(Stress {
        cores: 2,
        concurrency: 8,
    })
}

/// What a contender finds on a real bug's race is the bug's: on the fixed manager, no
/// contender's short campaign finds the race's invariant (shuttle's deadlock included).
#[test]
fn no_contender_finds_a_real_bug_race_on_the_fixed_manager() {
    let _turn = PEERS.lock().unwrap_or_else(|p| p.into_inner());
    for race in real_bug_races() {
        let fixed = Race {
            target: race.target.fixed(),
            ..race.clone()
        };
        for contender in &every_contender() {
            if contender.cannot(&fixed).is_some() {
                continue;
            }
            let attempt = contender.campaign(&fixed, 0, Duration::from_millis(200));
            assert!(
                !attempt.found,
                "{} <- {}: found in {} tries",
                fixed.target.name(),
                contender.name(),
                attempt.tries
            );
        }
    }
}

/// The checks a peer makes on the real bugs' races find each where a single play shows it:
/// turmoil alone finds the leaked server (I3 once settled), the refresh's orphan (I1), the
/// stalled hydration (L1, after the liveness bound) and the long Starting turn (L5) within a
/// hundred seeds, and the fixed managers pass the same seeds.
#[test]
fn turmoil_alone_finds_the_real_bugs_a_play_shows_and_passes_their_fixes() {
    for race in real_bug_races() {
        if race.target.name() == "abort-orphan-pre" {
            // Two starts 1 ms apart: the restart must land while the first create is in
            // flight, an order of events at one instant that turmoil alone does not choose.
            continue;
        }
        let found = (0..100).find(|&seed| {
            play_on_turmoil(&race, seed).is_some_and(|v| v.invariant == race.invariant)
        });
        assert!(found.is_some(), "{}: not found in 100 seeds", race.name);
        let fixed = Race {
            target: race.target.fixed(),
            ..race.clone()
        };
        for seed in 0..100 {
            let verdict = play_on_turmoil(&fixed, seed);
            assert_eq!(verdict, None, "{} fixed, seed {seed}", race.name);
        }
    }
}

/// A late effect: the create's caller times out, and the session appears at the server after.
#[test]
fn a_late_effect_lands_after_its_caller_gave_up() {
    let faults = FaultConfig {
        late_effects: 100,
        ..FaultConfig::none()
    };
    let backend = PlainBackend::new(faults, 20, Duration::from_millis(100), 7);
    paused().block_on(async {
        let workdir = Workdir::new("w0");
        let call = backend.ensure_server(&workdir);
        let answer = tokio::time::timeout(Duration::from_millis(100), call).await;
        assert!(answer.is_err(), "a late call never answers");
        assert_eq!(
            backend.judge(|ledger, _| ledger.servers.len()),
            0,
            "not yet"
        );
        tokio::time::sleep(Duration::from_millis(41)).await;
        backend.judge(|ledger, _| {
            assert_eq!(
                ledger.servers.len(),
                1,
                "landed within 40 ms of the timeout"
            );
            assert!(ledger.servers[0].ambiguous, "nobody was told of it");
        });
    });
}

/// A call whose caller's future is dropped still takes effect, and nobody hears of it.
#[test]
fn a_dropped_call_still_lands() {
    let backend = PlainBackend::new(FaultConfig::none(), 20, Duration::from_millis(100), 3);
    paused().block_on(async {
        let server = backend
            .ensure_server(&Workdir::new("w0"))
            .await
            .expect("a server");
        let agent = AgentId::new("a0");
        let create = backend.create_session(server, &agent);
        let dropped = tokio::time::timeout(Duration::from_micros(1), create).await;
        assert!(dropped.is_err(), "dropped before its reply");
        tokio::time::sleep(Duration::from_millis(21)).await;
        backend.judge(|ledger, _| {
            assert_eq!(ledger.sessions.len(), 1);
            assert!(ledger.sessions[0].live && ledger.sessions[0].ambiguous);
        });
    });
}

/// Injected errors have no effect, as the harness's `call-errors`.
#[test]
fn an_injected_error_has_no_effect() {
    let faults = FaultConfig {
        call_errors: 100,
        ..FaultConfig::none()
    };
    let backend = PlainBackend::new(faults, 20, Duration::from_millis(100), 1);
    paused().block_on(async {
        let answer = backend.ensure_server(&Workdir::new("w0")).await;
        assert!(matches!(answer, Err(BackendError::Failed(_))));
        assert_eq!(backend.judge(|ledger, _| ledger.servers.len()), 0);
    });
}

/// turmoil alone is deterministic per seed, and finds #1341 within some hundreds of seeds.
#[test]
fn turmoil_alone_replays_and_finds_1341() {
    let race = &panel()[0];
    let verdicts: Vec<_> = (0..300)
        .map(|seed| play_on_turmoil(race, seed).map(|v| v.invariant))
        .collect();
    let again: Vec<_> = (0..300)
        .map(|seed| play_on_turmoil(race, seed).map(|v| v.invariant))
        .collect();
    assert_eq!(verdicts, again, "the same seeds, the same verdicts");
    assert!(verdicts.contains(&Some(race.invariant)), "#1341 found");
}

/// One operation at a time, nothing hangs, and the settled check runs.
#[test]
fn sequential_operations_return_and_settle() {
    let race = &panel()[0];
    for seed in 0..20 {
        let mut sut = sequential(race.target, &race.spec, seed);
        for op in [
            OpKind::Start(0),
            OpKind::Start(0),
            OpKind::Start(1),
            OpKind::Stop(1),
        ] {
            assert_eq!(sut.op(op), None, "seed {seed}: {op:?}");
        }
        assert_eq!(sut.settle(), None, "seed {seed}: one caller cannot race");
    }
}

fn attempt(found: bool, ms: u64) -> Attempt {
    Attempt::new(found, 1, Duration::from_millis(ms))
}

#[test]
fn the_median_counts_a_campaign_that_did_not_find_as_never() {
    let tally = |attempts| Tally::Ran {
        attempts,
        clock: Clock::Cpu,
        harness: false,
    };
    let some = tally(vec![
        attempt(true, 30),
        attempt(false, 1000),
        attempt(true, 10),
    ]);
    assert_eq!(some.median(), Some(Duration::from_millis(30)));
    let most_not = tally(vec![
        attempt(true, 30),
        attempt(false, 1000),
        attempt(false, 1000),
    ]);
    assert_eq!(most_not.median(), None);
    assert_eq!(Tally::Cannot("why".into()).median(), None);
}

/// A contender that broke, or cannot express a race, still has its row, saying why.
#[test]
fn every_contender_keeps_its_row_with_the_reason_it_has_no_time() {
    let races = panel();
    let race = races[..1].to_vec();
    let names = vec!["broken".to_string(), "unable".to_string()];
    let results = vec![vec![
        Tally::Broke("campaign 0: oops at x.rs:1".into()),
        Tally::Cannot("needs time".into()),
    ]];
    let table = render(&race, &names, &results, 5, Duration::from_secs(10));
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].contains("| broken | broke |") && rows[0].contains("oops at x.rs:1"));
    assert!(rows[1].contains("| unable | cannot express it |") && rows[1].contains("needs time"));
}

/// A peer ahead of the harness's best gets the reason on its row, from the two tallies: as
/// many tries at a cheaper try is the fixed cost of a scenario; fewer tries is a better search.
#[test]
fn a_peer_ahead_of_the_harness_says_why_on_its_row() {
    let races = panel();
    let race = races[..1].to_vec();
    let ran = |harness, tries, ms| Tally::Ran {
        attempts: vec![Attempt::new(true, tries, Duration::from_millis(ms)); 3],
        clock: Clock::Cpu,
        harness,
    };
    let names = vec![
        "walk".to_string(),
        "cheap peer".to_string(),
        "clever peer".to_string(),
        "slow peer".to_string(),
    ];
    // One campaign of many cheap tries: the row's try cost is the median campaign's, not the
    // mean over every try (which would be 3.75 ms here).
    let cheap = Tally::Ran {
        attempts: vec![
            Attempt::new(true, 2, Duration::from_millis(30)),
            Attempt::new(true, 20, Duration::from_millis(30)),
            Attempt::new(true, 2, Duration::from_millis(30)),
        ],
        clock: Clock::Cpu,
        harness: false,
    };
    let results = vec![vec![
        ran(true, 2, 40),
        cheap,
        ran(false, 1, 35),
        ran(false, 2, 80),
    ]];
    let table = render(&race, &names, &results, 3, Duration::from_secs(10));
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert!(
        rows[1].contains("0.75x: ahead of walk; 2 tries against 2")
            && rows[1].contains("15000 µs against 20000 µs, the fixed cost of a scenario"),
        "{table}"
    );
    assert!(
        rows[2].contains("ahead of walk; fewer tries (1 against 2)"),
        "{table}"
    );
    assert!(rows[3].ends_with("| 2.0x |"), "{table}");
    assert!(rows[0].ends_with("| 1.0x |"), "{table}");
}
