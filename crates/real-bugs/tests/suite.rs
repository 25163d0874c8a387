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

use std::collections::BTreeSet;
use std::time::Duration;

use lifecycle_sim::explore::shrink::{SHRINK_BUDGET, shrink};
use lifecycle_sim::testing::{CheckOptions, Finding, Source, run_once};
use lifecycle_sim::{
    CallKind, Case, FakeBackend, FaultConfig, Invariant, Manager, Scenario, Settings, Story,
    Strategy, Subject, Timing, check_random, replay,
};
use real_bugs::kit::{
    BOOT_BUG_POINTS, BOOT_POINTS, ExitCause, KitManager, POINTS, REFRESH_POINTS, Release, Steps,
    TURN_POINTS,
};
use real_bugs::{
    AbortOrphan, HydrationLock, RefreshOrphan, RefreshStarting, ServerLeak, StuckStarting,
};

/// A campaign, a subject, and the points it must reach.
type Reaching<'a> = (&'a dyn Source, Box<dyn Subject>, Vec<&'a str>);

/// A campaign, the pre-fix and the fixed subject, and the invariant the pre-fix one breaks.
type Pair<'a> = (
    &'a dyn Source,
    Box<dyn Subject>,
    Box<dyn Subject>,
    Invariant,
);

/// Seeds a pre-fix manager must be found within.
const FIND_WITHIN: u64 = 20_000;

/// Seeds a fixed manager must hold on (about 6 s each in a debug build).
const HOLD_ON: u64 = 20_000;

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

/// The campaign with the operation kinds a bug's entry point needs added: every seed draws
/// `mix` (here `all`: starts, restarts, stops and evictions, plus the new kind), where the
/// default campaign draws a subset of `all` per seed.
struct CampaignWith(&'static str);

impl Source for CampaignWith {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        let settings = Settings {
            ops: Some(self.0.parse().expect("an operation mix")),
            ..Settings::default()
        };
        let mut scenario = settings.scenario(seed, strategy);
        let faults = &mut scenario.spec.faults;
        faults.create_lies = 0;
        faults.lost_replies = 0;
        faults.late_effects = 0;
        scenario
    }
}

/// #1828's campaign: the default one with turns that last 60 ms (three times the longest
/// request, under the 100 ms call timeout), as the real `session.prompt` blocks for the model's
/// whole turn.
struct LongTurns;

/// How long a turn lasts in [`LongTurns`].
const TURN_MS: u64 = 60;

impl Source for LongTurns {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        let mut scenario = Campaign.scenario(seed, strategy);
        scenario.spec.timing.turn_ms = Some(TURN_MS);
        scenario
    }
}

/// #2835's campaign: the default one with refreshes.
const REFRESHES: CampaignWith = CampaignWith("all,refresh");

/// #3151's campaign: the default one with reboots.
const REBOOTS: CampaignWith = CampaignWith("start,restart,stop,reboot");

/// #1995's manager, pre-fix or fixed, as a subject.
fn abort_orphan<const FIXED: bool>() -> Manager<AbortOrphan<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "abort-orphan-fixed"
    } else {
        "abort-orphan-pre"
    })
    .about("#1995: the session id stored before (fixed) or after (pre) the abort check")
    .callers_wait()
    .points(real_bugs::abort_orphan::points())
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
    .points(real_bugs::server_leak::points())
}

/// #2835 (a)'s manager, pre-fix or fixed, as a subject.
fn refresh_starting<const FIXED: bool>() -> Manager<RefreshStarting<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "refresh-starting-fixed"
    } else {
        "refresh-starting-pre"
    })
    .about("#2835 (a): a refresh restarts running agents only (fixed) or starting ones too (pre)")
    .callers_wait()
    .points(real_bugs::refresh_starting::points())
}

/// #2835 (b)'s manager, pre-fix or fixed, as a subject.
fn refresh_orphan<const FIXED: bool>() -> Manager<RefreshOrphan<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "refresh-orphan-fixed"
    } else {
        "refresh-orphan-pre"
    })
    .about("#2835 (b): a timed-out refresh spawn reaped (fixed) or left running (pre)")
    .callers_wait()
    .points(real_bugs::refresh_orphan::points())
}

/// #3151's manager, pre-fix or fixed, as a subject.
fn hydration_lock<const FIXED: bool>() -> Manager<HydrationLock<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "hydration-lock-fixed"
    } else {
        "hydration-lock-pre"
    })
    .about("#3151: user starts wait at the gate (fixed) or behind the hydration's lock (pre)")
    .callers_wait()
    .points(real_bugs::hydration_lock::points())
}

/// #1828's manager, pre-fix or fixed, as a subject.
fn stuck_starting<const FIXED: bool>() -> Manager<StuckStarting<FakeBackend, FIXED>> {
    Manager::new(if FIXED {
        "stuck-starting-fixed"
    } else {
        "stuck-starting-pre"
    })
    .about("#1828: the record Running before the initial prompt (fixed) or after it (pre)")
    .callers_wait()
    .points(real_bugs::stuck_starting::points())
}

/// Every subject, by the names case files use.
fn subjects() -> Vec<Box<dyn Subject>> {
    vec![
        Box::new(abort_orphan::<false>()),
        Box::new(abort_orphan::<true>()),
        Box::new(server_leak::<false>()),
        Box::new(server_leak::<true>()),
        Box::new(refresh_starting::<false>()),
        Box::new(refresh_starting::<true>()),
        Box::new(refresh_orphan::<false>()),
        Box::new(refresh_orphan::<true>()),
        Box::new(hydration_lock::<false>()),
        Box::new(hydration_lock::<true>()),
        Box::new(stuck_starting::<false>()),
        Box::new(stuck_starting::<true>()),
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
    found_on(&Campaign, pre, fixed, invariant)
}

/// [`found`] on `campaign`.
fn found_on(
    campaign: &dyn Source,
    pre: &dyn Subject,
    fixed: &dyn Subject,
    invariant: Invariant,
) -> Finding {
    let verdict = check_random(pre, campaign, FIND_WITHIN);
    let (runs, elapsed) = (verdict.runs, verdict.elapsed);
    let finding = verdict.expect_violation(invariant);
    let seed = finding.seed.expect("a random check's finding has a seed");
    say(format!(
        "{}: {invariant} found at seed {seed} ({runs} run(s), {:.1} s): {}",
        pre.name(),
        elapsed.as_secs_f64(),
        finding.violation().detail
    ));
    check_random(fixed, campaign, 0..seed + 1).assert_holds();
    finding
}

/// `fixed` holds on the campaign's first `seeds` seeds.
fn holds(fixed: &dyn Subject, seeds: u64) {
    holds_on(&Campaign, fixed, seeds);
}

/// [`holds`] on `campaign`.
fn holds_on(campaign: &dyn Source, fixed: &dyn Subject, seeds: u64) {
    let verdict = check_random(fixed, campaign, seeds);
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
    holds(&abort_orphan::<true>(), HOLD_ON);
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
    holds(&server_leak::<true>(), HOLD_ON);
}

// #2835 (a): a refresh restarts the server of an agent still starting.

#[test]
fn refresh_starting_pre_fix_is_found() {
    found_on(
        &REFRESHES,
        &refresh_starting::<false>(),
        &refresh_starting::<true>(),
        Invariant::I1,
    );
}

#[test]
fn refresh_starting_fix_holds() {
    holds_on(&REFRESHES, &refresh_starting::<true>(), HOLD_ON);
}

// #2835 (b): a refresh whose spawn timed out leaves the server it still starts to run.

#[test]
fn refresh_orphan_pre_fix_is_found() {
    found_on(
        &REFRESHES,
        &refresh_orphan::<false>(),
        &refresh_orphan::<true>(),
        Invariant::I3,
    );
}

#[test]
fn refresh_orphan_fix_holds() {
    holds_on(&REFRESHES, &refresh_orphan::<true>(), HOLD_ON);
}

// #3151: the hydration holds the lock user starts queue behind with their agent's turn held.

#[test]
fn hydration_lock_pre_fix_is_found() {
    found_on(
        &REBOOTS,
        &hydration_lock::<false>(),
        &hydration_lock::<true>(),
        Invariant::L1,
    );
}

#[test]
fn hydration_lock_fix_holds() {
    holds_on(&REBOOTS, &hydration_lock::<true>(), HOLD_ON);
}

// #1828: the record stays Starting for the whole of a long first turn.

#[test]
fn stuck_starting_pre_fix_is_found() {
    found_on(
        &LongTurns,
        &stuck_starting::<false>(),
        &stuck_starting::<true>(),
        Invariant::L5,
    );
}

#[test]
fn stuck_starting_fix_holds() {
    holds_on(&LongTurns, &stuck_starting::<true>(), HOLD_ON);
}

/// The kit is correct around every bug's step under long turns too: each fixed manager holds
/// on the long-turn campaign, so a finding there is its step's.
#[test]
fn every_fix_holds_under_long_turns() {
    for fixed in [
        Box::new(abort_orphan::<true>()) as Box<dyn Subject>,
        Box::new(server_leak::<true>()),
        Box::new(refresh_starting::<true>()),
        Box::new(refresh_orphan::<true>()),
        Box::new(hydration_lock::<true>()),
    ] {
        holds_on(&LongTurns, fixed.as_ref(), 2_000);
    }
}

/// #1828 as its fix tells it: a0's first turn lasts 60 ms; pre-fix, a0 shows Starting for all
/// of it. And an eviction in the middle of that turn returns without waiting for it: the stop
/// cuts the turn short, before the fix and after.
#[test]
fn stuck_starting_a_long_first_turn() {
    let turns = Timing {
        turn_ms: Some(TURN_MS),
        ..Timing::default()
    };
    let story = Story::new().agents(["a0"]).start("a0").timing(turns);
    let stuck =
        check_random(&stuck_starting::<false>(), &story, 50).expect_violation(Invariant::L5);
    say(format!(
        "stuck-starting-pre, a long first turn: L5 at seed {}: {}",
        stuck.seed.unwrap(),
        stuck.violation().detail
    ));
    check_random(&stuck_starting::<true>(), &story, 500).assert_holds();
    let drained = Story::new()
        .agents(["a0"])
        .start("a0")
        .evict()
        .at_ms(40)
        .timing(turns);
    check_random(&stuck_starting::<true>(), &drained, 500).assert_holds();
}

/// The new entry points' campaigns reach the moments their bugs need: the fixed managers a
/// refresh of a running agent, a refresh spawn that timed out, the reaper at work, a boot
/// hydration and a start waiting at its gate; the pre-fix managers a refresh of a starting
/// agent and a start queued behind the hydration's lock.
#[test]
fn the_new_campaigns_reach_every_moment_the_bugs_need() {
    let cases: Vec<Reaching> = vec![
        (
            &REFRESHES,
            Box::new(refresh_starting::<true>()),
            REFRESH_POINTS.iter().map(|p| p.name).collect(),
        ),
        (
            &REFRESHES,
            Box::new(refresh_starting::<false>()),
            vec!["kit.refresh_restarted_starting"],
        ),
        (
            &REFRESHES,
            Box::new(refresh_orphan::<true>()),
            vec!["kit.refresh_ensure_timed_out", "kit.reaper_closed_orphan"],
        ),
        (
            &REBOOTS,
            Box::new(hydration_lock::<true>()),
            BOOT_POINTS.iter().map(|p| p.name).collect(),
        ),
        (
            &REBOOTS,
            Box::new(hydration_lock::<false>()),
            BOOT_BUG_POINTS.iter().map(|p| p.name).collect(),
        ),
        (
            &LongTurns,
            Box::new(stuck_starting::<true>()),
            TURN_POINTS.iter().map(|p| p.name).collect(),
        ),
    ];
    for (campaign, subject, wanted) in cases {
        let mut points = BTreeSet::new();
        for seed in 0..1_000 {
            points.extend(run_once(subject.as_ref(), campaign, seed).points);
        }
        for point in wanted {
            assert!(
                points.contains(point),
                "{} never reached {point} in 1,000 seeds",
                subject.name()
            );
        }
    }
}

/// The coverage points the fixed managers reach on the campaign's first `seeds` seeds.
fn reached(subject: &dyn Subject, seeds: u64) -> BTreeSet<&'static str> {
    let mut points = BTreeSet::new();
    for seed in 0..seeds {
        points.extend(run_once(subject, &Campaign, seed).points);
    }
    points
}

/// A holding campaign proves something only where it went: the fixed managers' campaigns reach
/// each bug's moment (a restart cancelling a startup, the cancel seen right after the create)
/// and both background exits (idle, and a stream that failed).
#[test]
fn the_campaign_reaches_every_moment_the_bugs_need() {
    for subject in [
        Box::new(abort_orphan::<true>()) as Box<dyn Subject>,
        Box::new(server_leak::<true>()),
    ] {
        let points = reached(subject.as_ref(), 2_000);
        for point in POINTS {
            assert!(
                points.contains(point.name),
                "{} never reached {} ({}) in 2,000 seeds",
                subject.name(),
                point.name,
                point.about
            );
        }
    }
}

// The bugs as their reports tell them, as stories.

/// #1341's story, #1995's moment: a0 restarted while its first session is being created.
#[test]
fn abort_orphan_a_restart_during_create() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .start("a0")
        .while_pending(CallKind::CreateSession, "a0");
    check_random(&abort_orphan::<false>(), &story, 50).expect_violation(Invariant::I6);
    check_random(&abort_orphan::<true>(), &story, 500).assert_holds();
    CheckOptions::default()
        .within(Duration::from_secs(30))
        .check_dfs(&abort_orphan::<true>(), &story, 100_000)
        .assert_exhausted();
}

/// #1075 as the report tells it: an agent started once, left to go idle: its exit keeps the
/// count, and the workdir's server is never closed.
#[test]
fn server_leak_an_agent_left_idle() {
    let story = Story::new().agents(["a0"]).start("a0");
    let leak = check_random(&server_leak::<false>(), &story, 10).expect_violation(Invariant::I3);
    say(format!(
        "server-leak-pre, left idle: {}",
        leak.violation().detail
    ));
    check_random(&server_leak::<true>(), &story, 200).assert_holds();
}

// Which invariant catches a leaked server, in each shape it can take.

/// A manager whose background exits do `HOW` (0: keep the count, 1: decrement without closing at
/// 0, 2: forget the server without closing it) on the exits of `CAUSE` (0: idle, 1: a stream
/// that failed) and give the count back on the other.
struct LeakShape<const HOW: u8, const CAUSE: u8>;

impl<const HOW: u8, const CAUSE: u8> Steps for LeakShape<HOW, CAUSE> {
    fn release_on_exit(cause: ExitCause) -> Release {
        let leaks = match cause {
            ExitCause::Idle => CAUSE == 0,
            ExitCause::StreamFailed => CAUSE == 1,
        };
        match HOW {
            _ if !leaks => Release::Give,
            0 => Release::Keep,
            1 => Release::DecrementOnly,
            _ => Release::Forget,
        }
    }
}

fn leak_shape<const HOW: u8, const CAUSE: u8>(
    name: &str,
) -> Manager<KitManager<FakeBackend, LeakShape<HOW, CAUSE>>> {
    Manager::new(name).callers_wait()
}

/// Each shape a leaked server takes (still counted by no record; listed at 0; no longer listed),
/// on each of #1075's two paths, is found on the campaign: as I3, whose settle check knows all
/// three shapes, except where the stream failed because its server crashed: a crashed server a
/// manager still lists at 0 is not judged by I3 (nothing tells a manager of a crash; the process
/// is gone, so nothing leaks), and reusing it is L2 (sim/src/check/settle.rs).
#[test]
fn every_shape_of_a_leaked_server_is_found_on_either_path() {
    let shapes: Vec<(Box<dyn Subject>, &str)> = vec![
        (Box::new(leak_shape::<0, 0>("keep-on-idle")), "counted"),
        (
            Box::new(leak_shape::<1, 0>("decrement-only-on-idle")),
            "at 0",
        ),
        (Box::new(leak_shape::<2, 0>("forget-on-idle")), "forgotten"),
        (Box::new(leak_shape::<0, 1>("keep-on-stream")), "counted"),
        (
            Box::new(leak_shape::<1, 1>("decrement-only-on-stream")),
            "at 0",
        ),
        (
            Box::new(leak_shape::<2, 1>("forget-on-stream")),
            "forgotten",
        ),
    ];
    for (subject, shape) in shapes {
        let verdict = check_random(subject.as_ref(), &Campaign, FIND_WITHIN);
        let finding = verdict.finding.expect("every leak shape is found");
        let invariant = finding.invariant();
        let crashed_and_reused = invariant == Invariant::L2
            && subject.name().ends_with("-on-stream")
            && finding.violation().detail.contains("is not running");
        assert!(
            invariant == Invariant::I3 || crashed_and_reused,
            "{}: {invariant}: {}",
            subject.name(),
            finding.violation().detail
        );
        say(format!(
            "{} (a server {shape}): {invariant} at seed {}: {}",
            subject.name(),
            finding.seed.unwrap(),
            finding.violation().detail
        ));
    }
}

/// The story that shows the stream path alone: a server crash under a running agent, whose
/// stream ends; the pre-fix exit keeps the count of a server that is gone.
#[test]
fn server_leak_on_the_stream_path_alone() {
    let faults = FaultConfig {
        server_crashes: 1,
        ..FaultConfig::none()
    };
    let story = Story::new().agents(["a0"]).start("a0").faults(faults);
    let subject = leak_shape::<0, 1>("keep-on-stream");
    let leak = check_random(&subject, &story, 2_000).expect_violation(Invariant::I3);
    say(format!(
        "keep-on-stream, a crash under a0: I3 at seed {}: {}",
        leak.seed.unwrap(),
        leak.violation().detail
    ));
    check_random(&server_leak::<true>(), &story, 2_000).assert_holds();
}

/// #2835 (a) as the code comment tells it: a refresh lands while a0's startup creates its
/// session; the pre-fix refresh restarts it anyway.
#[test]
fn refresh_starting_a_refresh_during_create() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .refresh()
        .while_pending(CallKind::CreateSession, "a0");
    let finding = check_random(&refresh_starting::<false>(), &story, 200)
        .finding
        .expect("the pre-fix refresh races the startup");
    say(format!(
        "refresh-starting-pre, a refresh during create: {} at seed {}: {}",
        finding.invariant(),
        finding.seed.unwrap(),
        finding.violation().detail
    ));
    check_random(&refresh_starting::<true>(), &story, 500).assert_holds();
}

/// #2835 (b): a0 runs (in the seeds where its 30 ms idle timer has not fired by 60 ms), a
/// refresh restarts its server and the spawn outlasts the refresh
/// timeout; nothing else starts a server for a0's workdir, so the pre-fix spawn's server runs
/// on, nobody's.
#[test]
fn refresh_orphan_a_slow_spawn() {
    let story = Story::new().agents(["a0"]).start("a0").refresh().at_ms(60);
    let leak =
        check_random(&refresh_orphan::<false>(), &story, 1_000).expect_violation(Invariant::I3);
    say(format!(
        "refresh-orphan-pre, a slow spawn: I3 at seed {}: {}",
        leak.seed.unwrap(),
        leak.violation().detail
    ));
    check_random(&refresh_orphan::<true>(), &story, 500).assert_holds();
}

/// #3151: a0 and a1 start; the container reboots while they are starting, and hydrates a0
/// then a1; a start of a1 arrives
/// while a0 is being hydrated. Pre-fix, it holds a1's turn and waits for the lock the
/// hydration holds, which waits for a1's turn: neither returns.
#[test]
fn hydration_lock_a_start_during_hydration() {
    let story = Story::new()
        .agents(["a0", "a1"])
        .apart()
        .start("a0")
        .start("a1")
        .reboot()
        .at_ms(5)
        .start("a1")
        .at_ms(8);
    let stall =
        check_random(&hydration_lock::<false>(), &story, 1_000).expect_violation(Invariant::L1);
    say(format!(
        "hydration-lock-pre, a start during hydration: L1 at seed {}: {}",
        stall.seed.unwrap(),
        stall.violation().detail
    ));
    check_random(&hydration_lock::<true>(), &story, 500).assert_holds();
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
    let pairs: Vec<Pair> = vec![
        (
            &Campaign,
            Box::new(abort_orphan::<false>()),
            Box::new(abort_orphan::<true>()),
            Invariant::I6,
        ),
        (
            &Campaign,
            Box::new(server_leak::<false>()),
            Box::new(server_leak::<true>()),
            Invariant::I3,
        ),
        (
            &REFRESHES,
            Box::new(refresh_starting::<false>()),
            Box::new(refresh_starting::<true>()),
            Invariant::I1,
        ),
        (
            &REFRESHES,
            Box::new(refresh_orphan::<false>()),
            Box::new(refresh_orphan::<true>()),
            Invariant::I3,
        ),
        (
            &REBOOTS,
            Box::new(hydration_lock::<false>()),
            Box::new(hydration_lock::<true>()),
            Invariant::L1,
        ),
        (
            &LongTurns,
            Box::new(stuck_starting::<false>()),
            Box::new(stuck_starting::<true>()),
            Invariant::L5,
        ),
    ];
    let only = std::env::var("SAVE_ONLY").ok();
    for (campaign, pre, fixed, invariant) in pairs {
        if only.as_deref().is_some_and(|o| !pre.name().starts_with(o)) {
            continue;
        }
        let finding = found_on(campaign, pre.as_ref(), fixed.as_ref(), invariant);
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
