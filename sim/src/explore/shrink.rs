//! Shrinking: reduce a case while it still does what it was kept for (the same invariant
//! fails, or a coverage point is still reached with the same verdict): fewer operations,
//! fewer agents and fault families, earlier operations, and smaller, fewer choices (choice 0 is
//! always the simplest: no fault, the shortest delay, the first call in order).

use crate::check::Invariant;
use crate::run::Outcome;
use crate::scenario::Scenario;
use crate::scenario::case::Case;
use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::Trigger;
use crate::subject::Subject;
use crate::world::history::What;

/// How many runs a shrink may spend.
pub const SHRINK_BUDGET: u32 = 4000;

/// A shrunk case, its run, and what shrinking it cost.
pub struct Shrunk {
    /// The smallest case found that still meets the goal.
    pub case: Case,
    /// Its run.
    pub outcome: Outcome,
    /// How many runs the shrink took.
    pub runs: u32,
}

/// What a shrunk case must still do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Violate this invariant.
    Violates(Invariant),
    /// Reach this coverage point, with the same verdict (`None`: no violation).
    Reaches(&'static str, Option<Invariant>),
}

impl Goal {
    /// Whether `outcome` meets the goal.
    pub fn met(self, outcome: &Outcome) -> bool {
        let violated = outcome.violation.as_ref().map(|v| v.invariant);
        match self {
            Self::Violates(invariant) => violated == Some(invariant),
            Self::Reaches(point, verdict) => outcome.points.contains(point) && violated == verdict,
        }
    }
}

struct Shrinker<'s> {
    model: &'s dyn Subject,
    goal: Goal,
    best: Case,
    runs: u32,
    budget: u32,
}

impl Shrinker<'_> {
    /// Keeps `candidate` if it still meets the goal.
    fn try_keep(&mut self, candidate: Case) -> bool {
        if self.runs >= self.budget || candidate == self.best {
            return false;
        }
        self.runs += 1;
        let outcome = Scenario::from_case(&candidate).run(self.model);
        if self.goal.met(&outcome) {
            // Keep only the choices the run used.
            self.best = Case {
                decisions: trimmed(outcome.choices()),
                ..candidate
            };
            true
        } else {
            false
        }
    }

    fn remove_ops(&mut self) -> bool {
        let mut progress = false;
        let mut i = self.best.spec.workload.ops.len();
        while i > 0 {
            i -= 1;
            if self.best.spec.workload.ops.len() <= 1 || i >= self.best.spec.workload.ops.len() {
                continue;
            }
            let mut c = self.best.clone();
            c.spec.workload.ops.remove(i);
            progress |= self.try_keep(c);
        }
        progress
    }

    /// Drops agents no operation names, and, where agents already share a workdir, puts them
    /// into the first one.
    fn simplify_agents(&mut self) -> bool {
        let mut progress = false;
        let used = |c: &Case, a: u8| {
            c.spec.workload.ops.iter().any(|op| {
                op.kind.agent() == Some(a)
                    || matches!(op.when, Trigger::WhilePending(_, x) if x == a)
            })
        };
        let mut a = self.best.spec.workload.workdirs.len();
        while a > 0 {
            a -= 1;
            if self.best.spec.workload.workdirs.len() <= 1 || used(&self.best, a as u8) {
                continue;
            }
            let mut c = self.best.clone();
            c.spec.workload.workdirs.remove(a);
            let shift = |x: u8| if usize::from(x) > a { x - 1 } else { x };
            for op in &mut c.spec.workload.ops {
                op.kind = op.kind.with_agent(shift);
                if let Trigger::WhilePending(k, x) = op.when {
                    op.when = Trigger::WhilePending(k, shift(x));
                }
            }
            progress |= self.try_keep(c);
        }
        // Moving an agent into another's workdir makes them share a server, which the real
        // roles do only in the triage and mayor workspaces: a scenario whose agents each had
        // their own keeps them apart.
        let shared = self.best.spec.workload.shares_workdirs();
        for a in 0..self.best.spec.workload.workdirs.len() {
            if shared && self.best.spec.workload.workdirs[a] != 0 {
                let mut c = self.best.clone();
                c.spec.workload.workdirs[a] = 0;
                progress |= self.try_keep(c);
            }
        }
        progress
    }

    fn drop_faults(&mut self) -> bool {
        let mut progress = false;
        for family in 0..FaultConfig::FAMILIES {
            if *self.best.spec.faults.rates_mut()[family] == 0 {
                continue;
            }
            let mut c = self.best.clone();
            *c.spec.faults.rates_mut()[family] = 0;
            progress |= self.try_keep(c);
        }
        progress
    }

    /// Moves operations earlier (timed operations stay in time order).
    fn earlier_ops(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.best.spec.workload.ops.len() {
            let Trigger::At(t) = self.best.spec.workload.ops[i].when else {
                continue;
            };
            let floor = match i
                .checked_sub(1)
                .map(|j| self.best.spec.workload.ops[j].when)
            {
                Some(Trigger::At(prev)) => prev,
                _ => 0,
            };
            for target in [
                floor,
                floor + (t - floor) / 2,
                t.saturating_sub(1).max(floor),
            ] {
                if target < t {
                    let mut c = self.best.clone();
                    c.spec.workload.ops[i].when = Trigger::At(target);
                    if self.try_keep(c) {
                        progress = true;
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Shorter and smaller choice lists.
    fn smaller_choices(&mut self) -> bool {
        let mut progress = false;
        let mut chunk = self.best.decisions.len().next_power_of_two();
        while chunk >= 1 {
            let mut start = 0;
            while start < self.best.decisions.len() {
                let end = (start + chunk).min(self.best.decisions.len());
                if self.best.decisions[start..end].iter().any(|&c| c != 0) {
                    let mut c = self.best.clone();
                    c.decisions[start..end].fill(0);
                    progress |= self.try_keep(c);
                }
                start += chunk;
            }
            chunk /= 2;
        }
        for i in 0..self.best.decisions.len() {
            let value = match self.best.decisions.get(i) {
                Some(&v) if v > 1 => v,
                _ => continue,
            };
            for smaller in [value / 2, value - 1] {
                let mut c = self.best.clone();
                c.decisions[i] = smaller;
                if self.try_keep(c) {
                    progress = true;
                    break;
                }
            }
        }
        progress
    }
}

/// Drops trailing zeros: choices past the end are 0 anyway.
fn trimmed(mut choices: Vec<u32>) -> Vec<u32> {
    while choices.last() == Some(&0) {
        choices.pop();
    }
    choices
}

/// Shrinks `case`, which must fail `invariant` on `model`.
pub fn shrink(model: &dyn Subject, case: Case, invariant: Invariant, budget: u32) -> Shrunk {
    shrink_to(model, case, Goal::Violates(invariant), budget)
}

/// Shrinks `case`, which must meet `goal` on `model`.
pub fn shrink_to(model: &dyn Subject, case: Case, goal: Goal, budget: u32) -> Shrunk {
    let mut s = Shrinker {
        model,
        goal,
        best: case,
        runs: 0,
        budget,
    };
    loop {
        let mut progress = s.remove_ops();
        progress |= s.simplify_agents();
        progress |= s.drop_faults();
        progress |= s.earlier_ops();
        progress |= s.smaller_choices();
        if !progress || s.runs >= s.budget {
            break;
        }
    }
    let outcome = Scenario::from_case(&s.best).run(model);
    Shrunk {
        case: s.best,
        outcome,
        runs: s.runs,
    }
}

/// Steps of a case, as a person reads its timeline: workload operations and injected faults
/// (failed, hung or lying calls, crashes, session events).
pub fn steps(outcome: &Outcome, case: &Case) -> usize {
    let faults = outcome
        .history
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                What::CallStarted { fault: Some(_), .. }
                    | What::ServerCrashed(_)
                    | What::SessionIdle(_)
                    | What::SessionError(_)
            )
        })
        .count();
    case.spec.workload.ops.len() + faults
}

/// A regression test for a shrunk case, ready to paste into `tests/`.
pub fn regression_test(
    model: &dyn Subject,
    invariant: Invariant,
    case: &Case,
    origin: &str,
) -> String {
    let name = format!(
        "{}_violates_{}_{}",
        model.name().replace('-', "_"),
        invariant.code().to_lowercase(),
        origin.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let json = case.to_json();
    let subject = model.rust_expr();
    let model = model.name();
    format!(
        "/// Shrunk by `lifecycle-sim shrink` from {origin}: {model} violates {invariant}.\n\
         #[test]\n\
         fn {name}() {{\n\
         \x20   let case = lifecycle_sim::Case::from_json(\n\
         \x20       r#\"\n{json}\"#,\n\
         \x20   )\n\
         \x20   .unwrap();\n\
         \x20   let outcome = lifecycle_sim::replay(&{subject}, &case);\n\
         \x20   let found = outcome.violation.map(|v| v.invariant);\n\
         \x20   assert_eq!(found, Some(lifecycle_sim::Invariant::{code}));\n\
         }}\n",
        code = invariant.variant()
    )
}
