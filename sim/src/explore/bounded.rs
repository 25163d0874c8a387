//! Bounded systematic search of one scenario: iterative deviation bounding. Every schedule
//! with no deviation from the default choices runs first, then every one with one, then two,
//! and so on, over every kind of decision the scenario draws (which step goes next, the order
//! of one instant, each fault, each delay), after CHESS's preemption and delay bounding: most
//! bugs need only a few deviations, and a bound says how far a clean search got.
//!
//! A schedule is named by its deviations: a list of (draw, option) sorted by draw, every
//! other draw taking choice 0, the default (no fault, the shortest delay, the first step).
//! Replaying it is replaying those choices, zeros between and after. Its children add one
//! deviation after its last, at a draw of its own run, to one option of each other outcome
//! of that draw ([`Draw::deviations`](crate::decisions::Draw::deviations)): a `percent` draw
//! has one deviation (its other outcome), not 99; a draw of one option, or one its caller
//! marked moot, has none. A list of k deviations has one parent (itself without its last),
//! so every schedule runs once, and level k is every list of k deviations.

use std::collections::BTreeMap;

use crate::run::Outcome;
use crate::scenario::Scenario;
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::subject::Subject;

/// The most schedules one level may queue: past it, the next level is cut short, and the
/// search ends after running what it queued (12 bytes a schedule).
const MOST_QUEUED: usize = 1 << 23;

/// What a bounded search covered.
pub struct BoundedReport {
    /// How many schedules ran with each number of deviations: `levels[k]` with k.
    pub levels: Vec<u64>,
    /// Every schedule with up to this many deviations ran (`None`: not even the default
    /// one, or the default one failed).
    pub complete: Option<u32>,
    /// Every schedule of the scenario ran: no level beyond the last has any.
    pub exhausted: bool,
    /// The first failing schedule, if any.
    pub failure: Option<BoundedFailure>,
}

/// A failing schedule a bounded search found.
pub struct BoundedFailure {
    /// Its case: the scenario and every choice of the run, to replay or shrink.
    pub case: Case,
    /// Its run.
    pub outcome: Outcome,
    /// How many deviations from the default choices it took.
    pub deviations: u32,
}

impl BoundedReport {
    /// How many schedules ran.
    pub fn schedules(&self) -> u64 {
        self.levels.iter().sum()
    }

    /// How many schedules ran within the complete bound.
    pub fn schedules_within_bound(&self) -> u64 {
        self.complete
            .map_or(0, |k| self.levels.iter().take(k as usize + 1).sum())
    }

    /// One line on what was searched: "no violation within bound k (N schedules)", and how
    /// far into the next bound it got, or that it exhausted the scenario.
    pub fn summary(&self) -> String {
        let all = self.schedules();
        let mut text = match self.complete {
            Some(k) if self.exhausted => {
                format!("exhausted: all {all} schedules (every bound up to {k} deviations)")
            }
            Some(k) => format!(
                "within bound {k} ({} schedules)",
                self.schedules_within_bound()
            ),
            None => "within no bound (the default schedule did not finish)".into(),
        };
        let beyond = all - self.schedules_within_bound();
        if beyond > 0 {
            let next = self.complete.map_or(0, |k| k + 1);
            text.push_str(&format!(
                ", and {beyond} schedules of bound {next} ({all} in all)"
            ));
        }
        text
    }
}

/// One deviation, and the schedule it extends (its index in the level before).
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    at: u32,
    choice: u32,
}

/// Searches the schedules of `spec` (which should use the dfs strategy, so that the order of
/// steps is drawn, not timed) by increasing deviations, up to `max_deviations`, until one
/// violates an invariant or `max_schedules` have run.
pub fn bounded(
    model: &dyn Subject,
    spec: &ScenarioSpec,
    max_deviations: u32,
    max_schedules: u64,
) -> BoundedReport {
    let mut ran = 0;
    bounded_for(
        model,
        spec,
        max_deviations,
        |outcome| outcome.violation.is_some(),
        || {
            ran += 1;
            ran <= max_schedules
        },
    )
}

/// The same search, stopping at the first schedule `found` accepts, or before any schedule
/// `more` refuses (a budget).
pub fn bounded_for(
    model: &dyn Subject,
    spec: &ScenarioSpec,
    max_deviations: u32,
    found: impl Fn(&Outcome) -> bool,
    mut more: impl FnMut() -> bool,
) -> BoundedReport {
    // levels[k]: the schedules of k deviations; the default schedule's node is a placeholder.
    let mut levels: Vec<Vec<Node>> = vec![vec![Node {
        parent: 0,
        at: 0,
        choice: 0,
    }]];
    let mut report = BoundedReport {
        levels: Vec::new(),
        complete: None,
        exhausted: false,
        failure: None,
    };
    // Whether level k holds every schedule of k deviations (not cut short by MOST_QUEUED).
    let mut whole = true;
    let mut k = 0;
    loop {
        let grow = whole && (k as u32) < max_deviations;
        let (mut next, mut cut) = (Vec::new(), false);
        report.levels.push(0);
        for i in 0..levels[k].len() {
            if !more() {
                return report;
            }
            let case = Case {
                seed: None,
                spec: spec.clone(),
                decisions: choices_of(&levels, k, i),
                expect: BTreeMap::new(),
                reaches: BTreeMap::new(),
            };
            let outcome = Scenario::from_case(&case).run(model);
            report.levels[k] += 1;
            if found(&outcome) {
                report.failure = Some(BoundedFailure {
                    case: Case {
                        decisions: outcome.choices(),
                        ..case
                    },
                    outcome,
                    deviations: k as u32,
                });
                return report;
            }
            if !grow || cut {
                continue;
            }
            // Its children: one more deviation, after its last.
            let from = if k == 0 { 0 } else { levels[k][i].at as usize + 1 };
            for (at, draw) in outcome.draws.iter().enumerate().skip(from) {
                for choice in draw.deviations() {
                    if next.len() == MOST_QUEUED {
                        cut = true;
                        break;
                    }
                    next.push(Node {
                        parent: i as u32,
                        at: at as u32,
                        choice,
                    });
                }
            }
        }
        if !whole {
            return report;
        }
        report.complete = Some(k as u32);
        if !grow {
            return report;
        }
        if next.is_empty() {
            report.exhausted = true;
            return report;
        }
        whole = !cut;
        levels.push(next);
        k += 1;
    }
}

/// The choices of schedule `i` of level `k`: its deviations, zeros between them.
fn choices_of(levels: &[Vec<Node>], k: usize, i: usize) -> Vec<u32> {
    let mut deviations = Vec::with_capacity(k);
    let (mut level, mut at) = (k, i);
    while level > 0 {
        let node = levels[level][at];
        deviations.push((node.at as usize, node.choice));
        at = node.parent as usize;
        level -= 1;
    }
    let len = deviations.first().map_or(0, |&(at, _)| at + 1);
    let mut choices = vec![0; len];
    for (at, choice) in deviations {
        choices[at] = choice;
    }
    choices
}
