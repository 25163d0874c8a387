//! What a check found, and the assertions on it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use super::saved;
use crate::check::{Invariant, Violation};
use crate::explore::shrink::{SHRINK_BUDGET, shrink};
use crate::report::{Origin, scenario_report};
use crate::run::Outcome;
use crate::scenario::case::Case;
use crate::subject::Subject;

/// A failing run: where it came from, the case that replays it, and what it did.
pub struct Finding {
    /// The seed it was drawn from (`None` for a dfs schedule).
    pub seed: Option<u64>,
    /// The case that replays it.
    pub case: Case,
    /// What it did.
    pub outcome: Outcome,
}

impl Finding {
    /// What it violated.
    pub fn violation(&self) -> &Violation {
        self.outcome
            .violation
            .as_ref()
            .expect("a finding violates something")
    }

    /// The invariant it violated.
    pub fn invariant(&self) -> Invariant {
        self.violation().invariant
    }

    /// The timeline, and the case file that replays it.
    pub fn report(&self, subject: &str) -> String {
        let mut text = scenario_report(subject, &self.origin(), &self.case.spec, &self.outcome);
        let _ = write!(
            text,
            "the case (save it as a .json file; `replay --decisions FILE` or `lifecycle_sim::replay` runs it):\n{}",
            self.case.to_json()
        );
        text
    }

    fn origin(&self) -> Origin {
        Origin::Unsaved(
            self.seed
                .map_or_else(|| "a schedule".to_string(), |s| format!("seed {s}")),
        )
    }

    /// For a failing assertion: the case saved to a file ([`super::failures_dir`]), one line
    /// that replays it, then the timeline. Should the file not be written, the case's JSON
    /// takes its place.
    fn saved_report(&self, subject: &dyn Subject) -> String {
        let name = subject.name();
        match saved::save(name, &self.case) {
            Ok(path) => {
                let origin = Origin::File(path.display().to_string());
                let report = scenario_report(name, &origin, &self.case.spec, &self.outcome);
                // The report's own last line is the CLI's replay command, which only holds for
                // the built-in models: the line above it says how, for any subject.
                let body = report
                    .trim_end()
                    .rsplit_once('\n')
                    .map_or(report.as_str(), |(body, _)| body);
                format!("{}\n{body}\n", saved::replay_line(subject, &path))
            }
            Err(e) => format!("({e})\n{}", self.report(name)),
        }
    }
}

/// What a check found: how many runs it made, and the first failing one.
#[must_use = "a verdict asserts nothing until it is asserted on"]
pub struct Verdict<'s> {
    pub(super) subject: &'s dyn Subject,
    /// How many runs it made.
    pub runs: u64,
    /// dfs: every schedule was run (`Some(false)`: `max_schedules` or the time budget ended the
    /// search first, so holding is a bounded check, not a proof).
    pub exhausted: Option<bool>,
    /// The scenario's operations (by index) that no run issued: a `while_pending` aimed at a
    /// call that never came, so the race it names was never reached.
    pub never_issued: Vec<usize>,
    /// The first failing run, if any.
    pub finding: Option<Finding>,
    /// The time budget ([`super::CheckOptions::within`]) ended the check before its seeds or
    /// schedules did: `runs` then depends on the machine's speed.
    pub out_of_time: bool,
    /// How long the check took, by the wall clock.
    pub elapsed: Duration,
    /// How many runs the check was asked for (seeds, or dfs's `max_schedules`).
    pub(super) asked: u64,
    /// dfs: every schedule with up to this many deviations from the default choices ran, and
    /// how many schedules that was (`None`: not even the default schedule, or another check).
    pub bound: Option<(u32, u64)>,
    /// dfs: the most deviations the search was given, if fewer than every one.
    pub(super) max_deviations: Option<u32>,
}

impl Verdict<'_> {
    /// What the first failing run violated, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.finding.as_ref().map(Finding::violation)
    }

    /// Panics, with the failure shrunk, if any run violated anything, or if an operation of the
    /// scenario never arrived in any run (the race it aims at was never reached, so holding
    /// proves nothing about it). The shrunk case is saved to a file
    /// ([`failures_dir`](super::failures_dir)): the message's first line replays it, and the
    /// timeline follows.
    ///
    /// A check that did not run everything it was asked for (a dfs that did not exhaust the
    /// story's schedules, or a time budget that ran out) still passes, with one warning line on
    /// stderr (written past the test harness's output capture, so it shows in a passing
    /// `cargo test`); [`Verdict::assert_exhausted`] fails instead.
    #[track_caller]
    pub fn assert_holds(self) {
        if let Some(warning) = self.assert_no_violation() {
            let _ = writeln!(std::io::stderr(), "warning: {warning}");
        }
    }

    /// [`Verdict::assert_holds`], and panics unless the check ran everything it was asked for:
    /// under dfs, every schedule of the story (the search was exhausted); under any strategy,
    /// no time budget cut it short. What a passing `assert_exhausted` of a dfs proves holds for
    /// every schedule of the story.
    #[track_caller]
    pub fn assert_exhausted(self) {
        if let Some(warning) = self.assert_no_violation() {
            panic!("{warning}");
        }
    }

    /// Panics on a finding or an operation never issued; what the check left unrun, if it did.
    #[track_caller]
    fn assert_no_violation(self) -> Option<String> {
        let name = self.subject.name();
        let Some(found) = self.finding else {
            assert!(
                self.never_issued.is_empty(),
                "{name}: operation(s) {:?} of the scenario never arrived in {} run(s): the call they wait for was never in flight",
                self.never_issued,
                self.runs
            );
            return self.unrun();
        };
        let invariant = found.invariant();
        let shrunk = shrink(self.subject, found.case.clone(), invariant, SHRINK_BUDGET);
        let small = Finding {
            seed: found.seed,
            case: shrunk.case,
            outcome: shrunk.outcome,
        };
        panic!(
            "{name} violates {invariant} after {} run(s); shrunk in {} runs\n{}",
            self.runs,
            shrunk.runs,
            small.saved_report(self.subject)
        );
    }

    /// What this check left unrun, as one line; `None` if it ran everything.
    fn unrun(&self) -> Option<String> {
        let name = self.subject.name();
        let secs = self.elapsed.as_secs_f64();
        let within = self.bound.map_or_else(String::new, |(k, n)| {
            format!(" (no violation within bound {k}: {n} schedule(s))")
        });
        let bound_ended = self
            .bound
            .is_some_and(|(k, _)| Some(k) == self.max_deviations);
        match (self.exhausted, self.out_of_time) {
            (Some(false), true) => Some(format!(
                "{name} held in {} schedule(s){within}, but the time budget ran out ({secs:.1} s) before the search exhausted the story's schedules: a bounded check, not a proof, and how far it got depends on the machine",
                self.runs
            )),
            (Some(false), false) if bound_ended => Some(format!(
                "{name} held in {} schedule(s){within}, the most deviations the search was given: a bounded check, not a proof",
                self.runs
            )),
            (Some(false), false) => Some(format!(
                "{name} held in {} schedule(s){within}, but max_schedules ({}) ended the search before it exhausted the story's schedules: a bounded check, not a proof",
                self.runs, self.asked
            )),
            (_, true) => Some(format!(
                "{name} held in {} of {} seed(s): the time budget ran out after {secs:.1} s (how many ran depends on the machine)",
                self.runs, self.asked
            )),
            _ => None,
        }
    }

    /// The finding, which must violate `invariant`; panics (with the timeline of whatever
    /// else happened, its case saved as [`Verdict::assert_holds`] saves one) if nothing did,
    /// or something else did.
    #[track_caller]
    pub fn expect_violation(self, invariant: Invariant) -> Finding {
        let name = self.subject.name();
        match self.finding {
            Some(found) if found.invariant() == invariant => found,
            Some(found) => panic!(
                "{name} was expected to violate {invariant}, but violated {} first\n{}",
                found.invariant(),
                found.saved_report(self.subject)
            ),
            None => panic!(
                "{name} was expected to violate {invariant}, but held in {} run(s){}",
                self.runs,
                if self.out_of_time {
                    " (the time budget ran out first)"
                } else {
                    ""
                }
            ),
        }
    }
}
