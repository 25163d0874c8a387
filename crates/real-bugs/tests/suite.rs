//! The real bugs, judged: for each, the harness finds the pre-fix manager on the default
//! campaign within a bounded number of seeds, names the invariant it breaks, and passes the fixed
//! manager on the same campaign; a shrunk case of each finding replays from `tests/cases/`.
//!
//! The campaign is the default one (`Settings::default()`: generated workloads of 2-3 agents
//! with starts, restarts, stops and evictions, swarm faults, the default timing), with the three
//! fault families in which a failed call did something left out (create-lies, lost-replies,
//! late-effects): these managers, like the real code, trust a failed call to have done nothing,
//! and would leak under those families fixed or not (the kit's module doc says more). Every
//! other default family stays in the swarm: call errors, hangs, abort failures, server crashes,
//! error events and drops (which never land: the real handlers run to their end, so the
//! subjects' callers wait).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use lifecycle_sim::explore::shrink::{SHRINK_BUDGET, shrink};
use lifecycle_sim::testing::{Finding, Source};
use lifecycle_sim::{
    Case, FakeBackend, Invariant, Manager, Scenario, Settings, Strategy, Subject, check_random,
    replay,
};
use real_bugs::{AbortOrphan, ServerLeak};

/// Seeds a pre-fix manager must be found within.
const FIND_WITHIN: u64 = 20_000;

/// The campaign every bug is judged on: the default generated scenarios, swarm faults, less the
/// families in which a failed call took effect.
struct Campaign;

impl Source for Campaign {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        let mut scenario = Settings::default().scenario(seed, strategy);
        let faults = &mut scenario.spec.faults;
        faults.create_lies = 0;
        faults.lost_replies = 0;
        faults.late_effects = 0;
        scenario
    }
}

/// #1995's manager, pre-fix or fixed, as a subject.
fn abort_orphan<const FIXED: bool>() -> Manager<AbortOrphan<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "abort-orphan-fixed"
    } else {
        "abort-orphan-pre"
    })
    .about("#1995: the session id stored before (fixed) or after (pre) the abort check")
    .callers_wait()
}

/// #1075's manager, pre-fix or fixed, as a subject.
fn server_leak<const FIXED: bool>() -> Manager<ServerLeak<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "server-leak-fixed"
    } else {
        "server-leak-pre"
    })
    .about("#1075: the workdir count given back (fixed) or not (pre) on idle and stream exits")
    .callers_wait()
}

/// Every subject, by the names case files use.
fn subjects() -> Vec<Box<dyn Subject>> {
    vec![
        Box::new(abort_orphan::<false>()),
        Box::new(abort_orphan::<true>()),
        Box::new(server_leak::<false>()),
        Box::new(server_leak::<true>()),
    ]
}

/// One line past the test harness's capture, so a passing `cargo test` shows it.
fn say(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Finds `pre` on the campaign within [`FIND_WITHIN`] seeds, violating `invariant`; checks
/// that `fixed` holds on every seed up to the finding's, so the finding is the fix's; says
/// which seed found it.
fn found(pre: &dyn Subject, fixed: &dyn Subject, invariant: Invariant) -> Finding {
    let verdict = check_random(pre, &Campaign, FIND_WITHIN);
    let (runs, elapsed) = (verdict.runs, verdict.elapsed);
    let finding = verdict.expect_violation(invariant);
    let seed = finding.seed.expect("a random check's finding has a seed");
    say(format!(
        "{}: {invariant} found at seed {seed} ({runs} run(s), {:.1} s): {}",
        pre.name(),
        elapsed.as_secs_f64(),
        finding.violation().detail
    ));
    check_random(fixed, &Campaign, 0..seed + 1).assert_holds();
    finding
}

/// `fixed` holds on the campaign's first `seeds` seeds.
fn holds(fixed: &dyn Subject, seeds: u64) {
    let verdict = check_random(fixed, &Campaign, seeds);
    say(format!(
        "{}: held on {} seed(s) in {:.1} s",
        fixed.name(),
        verdict.runs,
        verdict.elapsed.as_secs_f64()
    ));
    let runs = verdict.runs;
    verdict.assert_holds();
    assert_eq!(runs, seeds);
}

// #1995: a restart during `session.create` orphans the session the pre-fix abort path cannot see.

#[test]
fn abort_orphan_pre_fix_is_found() {
    found(
        &abort_orphan::<false>(),
        &abort_orphan::<true>(),
        Invariant::I6,
    );
}

#[test]
fn abort_orphan_fix_holds() {
    holds(&abort_orphan::<true>(), 2_000);
}

// #1075: the idle exit and the stream's catch keep their count, so the server is never closed.

#[test]
fn server_leak_pre_fix_is_found() {
    found(
        &server_leak::<false>(),
        &server_leak::<true>(),
        Invariant::I3,
    );
}

#[test]
fn server_leak_fix_holds() {
    holds(&server_leak::<true>(), 2_000);
}

// The saved cases: one shrunk finding per pre-fix manager.

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Each saved case reaches the verdict it records on every subject it names: the pre-fix
/// manager its invariant, the fixed one `pass`.
#[test]
fn saved_cases_keep_their_verdicts() {
    let subjects = subjects();
    let mut pre_fix_found = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in &paths {
        let case = Case::load(path).unwrap();
        assert!(!case.expect.is_empty(), "{}: no verdicts", path.display());
        for (name, verdict) in &case.expect {
            let subject = lifecycle_sim::subject::find(&subjects, name)
                .unwrap_or_else(|| panic!("{}: no subject named {name}", path.display()));
            let outcome = replay(subject, &case);
            assert_eq!(
                &Case::verdict(&outcome),
                verdict,
                "{} on {name}",
                path.display()
            );
            if name.ends_with("-pre") && verdict != "pass" {
                pre_fix_found.push(name.clone());
            }
        }
    }
    // Every pre-fix manager has a case that finds it.
    for subject in &subjects {
        let name = subject.name();
        if name.ends_with("-pre") {
            assert!(
                pre_fix_found.iter().any(|n| n == name),
                "no saved case finds {name}"
            );
        }
    }
}

/// Regenerates `tests/cases/`: finds each pre-fix manager, shrinks the finding, and saves it
/// with the verdicts of both managers. `cargo test -p real-bugs --test suite -- --ignored
/// save_cases`.
#[test]
#[ignore = "writes tests/cases/; run by hand to regenerate them"]
fn save_cases() {
    let pairs: Vec<(Box<dyn Subject>, Box<dyn Subject>, Invariant)> = vec![
        (
            Box::new(abort_orphan::<false>()),
            Box::new(abort_orphan::<true>()),
            Invariant::I6,
        ),
        (
            Box::new(server_leak::<false>()),
            Box::new(server_leak::<true>()),
            Invariant::I3,
        ),
    ];
    for (pre, fixed, invariant) in pairs {
        let finding = found(pre.as_ref(), fixed.as_ref(), invariant);
        let seed = finding.seed.unwrap();
        let mut case = shrink(pre.as_ref(), finding.case, invariant, SHRINK_BUDGET).case;
        case.expect.clear();
        case.expect.insert(pre.name().to_string(), invariant.code());
        let fixed_verdict = Case::verdict(&replay(fixed.as_ref(), &case));
        assert_eq!(fixed_verdict, "pass", "the fix fails the shrunk case");
        case.expect.insert(fixed.name().to_string(), fixed_verdict);
        let path = cases_dir().join(format!(
            "{}-{}-seed{seed}.json",
            pre.name(),
            invariant.code()
        ));
        case.save(&path).unwrap();
        say(format!("saved {}", path.display()));
    }
}

