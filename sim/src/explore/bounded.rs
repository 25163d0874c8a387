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

use crate::decisions::Draw;
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

    /// What was searched, to follow "no violation": "within bound k (N schedules)" and how far
    /// into the next bound it got, or "exhausted: all N schedules (up to k deviations)".
    pub fn summary(&self) -> String {
        let all = self.schedules();
        let mut text = match self.complete {
            Some(k) if self.exhausted => {
                format!("exhausted: all {all} schedules (up to {k} deviations)")
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
    more: impl FnMut() -> bool,
) -> BoundedReport {
    let case_of = |choices| Case {
        seed: None,
        spec: spec.clone(),
        decisions: choices,
        expect: BTreeMap::new(),
        reaches: BTreeMap::new(),
    };
    let run = |choices: Vec<u32>| {
        let outcome = Scenario::from_case(&case_of(choices)).run(model);
        if found(&outcome) {
            // Boxed: the clean runs' result stays small.
            Err(Box::new(outcome))
        } else {
            Ok(outcome.draws)
        }
    };
    let searched = search(max_deviations, run, more);
    BoundedReport {
        levels: searched.levels,
        complete: searched.complete,
        exhausted: searched.exhausted,
        failure: searched.found.map(|(outcome, deviations)| BoundedFailure {
            case: case_of(outcome.choices()),
            outcome: *outcome,
            deviations,
        }),
    }
}

/// How far a search of decision streams got, and what stopped it.
struct Searched<F> {
    levels: Vec<u64>,
    complete: Option<u32>,
    exhausted: bool,
    /// What `run` returned for the stream that stopped the search, and its deviations.
    found: Option<(F, u32)>,
}

/// The search itself, over any run of a decision stream: `run` replays the choices it is given
/// (zeros after them) and returns what it drew, or what it found.
fn search<F>(
    max_deviations: u32,
    mut run: impl FnMut(Vec<u32>) -> Result<Vec<Draw>, F>,
    mut more: impl FnMut() -> bool,
) -> Searched<F> {
    // levels[k]: the schedules of k deviations; the default schedule's node is a placeholder.
    let mut levels: Vec<Vec<Node>> = vec![vec![Node {
        parent: 0,
        at: 0,
        choice: 0,
    }]];
    let mut searched = Searched {
        levels: Vec::new(),
        complete: None,
        exhausted: false,
        found: None,
    };
    // Whether level k holds every schedule of k deviations (not cut short by MOST_QUEUED).
    let mut whole = true;
    let mut k = 0;
    loop {
        let grow = whole && (k as u32) < max_deviations;
        let (mut next, mut cut) = (Vec::new(), false);
        searched.levels.push(0);
        for i in 0..levels[k].len() {
            if !more() {
                return searched;
            }
            let drawn = run(choices_of(&levels, k, i));
            searched.levels[k] += 1;
            let draws = match drawn {
                Ok(draws) => draws,
                Err(found) => {
                    searched.found = Some((found, k as u32));
                    return searched;
                }
            };
            if !grow || cut {
                continue;
            }
            // Its children: one more deviation, after its last.
            let from = if k == 0 {
                0
            } else {
                levels[k][i].at as usize + 1
            };
            for (at, draw) in draws.iter().enumerate().skip(from) {
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
            return searched;
        }
        searched.complete = Some(k as u32);
        if !grow {
            return searched;
        }
        if next.is_empty() {
            searched.exhausted = true;
            return searched;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::decisions::Decisions;

    /// A small program whose draws depend on what it drew: a pick of three; on its first
    /// option a fault (`percent`), on the others a delay of four; then a flip whose
    /// outcome is moot after the fault; then a pick of two. Returns its log and a value that
    /// names the run's behaviour.
    fn program(d: &mut Decisions) -> Vec<u32> {
        let pick = d.below(3);
        let mut seen = vec![pick];
        let fault = if pick == 0 {
            d.percent(20)
        } else {
            seen.push(d.between(1, 4));
            false
        };
        seen.push(u32::from(fault));
        let flip = d.percent_or_moot(!fault, 50);
        seen.push(u32::from(flip && !fault));
        seen.push(d.below(2));
        seen
    }

    fn run_program(choices: Vec<u32>) -> (Vec<Draw>, Vec<u32>) {
        let mut d = Decisions::replaying(choices);
        let seen = program(&mut d);
        (d.log().to_vec(), seen)
    }

    /// How many non-default outcomes a run took.
    fn deviations_of(draws: &[Draw]) -> u32 {
        draws
            .iter()
            .filter(|d| match d.classes {
                crate::decisions::Classes::Each => d.choice > 0,
                crate::decisions::Classes::Split(at) => d.choice >= at,
                crate::decisions::Classes::One => false,
            })
            .count() as u32
    }

    #[test]
    fn every_behaviour_runs_once_at_its_fewest_deviations() {
        let mut runs: Vec<(Vec<u32>, u32)> = Vec::new();
        let searched = search(
            u32::MAX,
            |choices| {
                let (draws, seen) = run_program(choices);
                runs.push((seen, deviations_of(&draws)));
                Ok::<_, ()>(draws)
            },
            || true,
        );
        assert!(searched.exhausted);
        // Every behaviour of the program, by brute force over every stream.
        let mut every = BTreeSet::new();
        for stream in 0..3 * 100 * 100 * 2 {
            let choices = vec![
                stream % 3,
                (stream / 3) % 100,
                (stream / 300) % 100,
                stream / 30000,
            ];
            every.insert(run_program(choices).1);
        }
        let behaviours: BTreeSet<Vec<u32>> = runs.iter().map(|(seen, _)| seen.clone()).collect();
        assert_eq!(behaviours, every, "every behaviour is reached");
        assert_eq!(runs.len(), every.len(), "and each one once");
        // Level k holds exactly the runs of k deviations, in order.
        let by_level: Vec<u32> = runs.iter().map(|&(_, k)| k).collect();
        assert!(by_level.windows(2).all(|w| w[0] <= w[1]), "{by_level:?}");
        let counted: Vec<u64> = (0..searched.levels.len() as u32)
            .map(|k| by_level.iter().filter(|&&n| n == k).count() as u64)
            .collect();
        assert_eq!(searched.levels, counted);
        // Level 1: pick 1 or 2, the fault, the flip, the last pick; not 99 faults nor flips.
        assert_eq!(searched.levels[..2], [1, 5]);
    }

    #[test]
    fn a_bound_stops_the_search_and_says_how_far_it_got() {
        let searched = search(1, |choices| Ok::<_, ()>(run_program(choices).0), || true);
        assert_eq!((searched.complete, searched.exhausted), (Some(1), false));
        assert_eq!(searched.levels, [1, 5]);
        let mut budget = 3;
        let cut = search(
            u32::MAX,
            |choices| Ok::<_, ()>(run_program(choices).0),
            || {
                budget -= 1;
                budget >= 0
            },
        );
        assert_eq!((cut.complete, cut.levels), (Some(0), vec![1, 2]));
    }

    #[test]
    fn the_first_run_found_stops_the_search_with_its_deviations() {
        // Found: pick 0 with its fault, and the last pick's other option.
        let searched = search(
            u32::MAX,
            |choices| {
                let (draws, seen) = run_program(choices.clone());
                if seen[0] == 0 && seen[1] == 1 && seen[3] == 1 {
                    Err(choices)
                } else {
                    Ok(draws)
                }
            },
            || true,
        );
        let (choices, k) = searched.found.expect("found");
        assert_eq!((choices, k), (vec![0, 80, 0, 1], 2));
        assert_eq!(searched.complete, Some(1));
    }
}
