//! `hunt --point NAME`: how many scenarios a strategy takes to reach a coverage point, and
//! (`--save FILE`) the first scenario that reached it, shrunk, as a case: a regression test of
//! the form "this interleaving happens, and nothing breaks".

use std::path::PathBuf;

use super::UsageError;
use super::args::{Generation, HuntScenario};
use super::hunt::campaigns_of;
use crate::explore::shrink::{Goal, SHRINK_BUDGET, shrink_to, steps};
use crate::explore::{Hunted, hunt_for};
use crate::report::{Origin, replay_command};
use crate::subject::Subject;
use crate::{Case, Scenario};

pub(super) struct PointHunt<'a> {
    pub(super) model: &'a dyn Subject,
    pub(super) subjects: &'a [Box<dyn Subject>],
    pub(super) point: String,
    pub(super) campaigns: u64,
    pub(super) max: u64,
    pub(super) scenario: HuntScenario,
    pub(super) save: Option<PathBuf>,
}

pub(super) fn hunt_point(h: PointHunt, generation: &Generation) -> Result<bool, UsageError> {
    let model = h.model;
    let catalog = model.catalog();
    let Some(point) = catalog.all().find(|p| *p == h.point) else {
        return Err(UsageError(format!(
            "{model} has no point `{}`; `points --model {model}` lists them",
            h.point
        )));
    };
    let settings = generation.settings_for(model)?;
    let late = crate::scenario::catalog::late_restart(generation.strategy());
    let hunted = match h.scenario {
        HuntScenario::Generated => Hunted::Generated(&settings),
        HuntScenario::LateRestart => Hunted::Fixed(&late),
    };
    let reaches = |o: &crate::Outcome| o.points.contains(point);
    let began = std::time::Instant::now();
    // Campaign 0 runs from seed 0: what it found is what `--save` keeps.
    let from_zero = std::cell::Cell::new(None);
    let (found, median) = campaigns_of(h.campaigns, h.max, |first| {
        let taken = hunt_for(model, &hunted, first, h.max, reaches);
        if first == 0 {
            from_zero.set(taken);
        }
        taken
    });
    println!(
        "{model} reaches {point} with {}: in {found} of {} campaigns; median {median} scenarios; {:.2} s",
        generation.strategy().name(),
        h.campaigns,
        began.elapsed().as_secs_f64()
    );
    if let Some(path) = &h.save {
        let Some(taken) = from_zero.get() else {
            return Err(UsageError(format!(
                "no scenario from seed 0 reached {point} within {}: nothing to save",
                h.max
            )));
        };
        let seed = taken - 1;
        let scenario = hunted.scenario(seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(model);
        let verdict = outcome.violation.as_ref().map(|v| v.invariant);
        let case = Case::of_run(Some(seed), &spec, &outcome);
        let shrunk = shrink_to(model, case, Goal::Reaches(point, verdict), SHRINK_BUDGET);
        let mut case = shrunk.case.clone();
        for other in h
            .subjects
            .iter()
            .filter(|s| s.undeclared(&case.spec).is_none())
        {
            let outcome = Scenario::from_case(&case).run(other.as_ref());
            case.expect
                .insert(other.name().into(), Case::verdict(&outcome));
        }
        case.reaches.insert(model.name().into(), vec![point.into()]);
        case.save(path).map_err(UsageError)?;
        println!(
            "seed {seed} reached it first; shrunk to {} steps in {} runs; saved {}",
            steps(&shrunk.outcome, &shrunk.case),
            shrunk.runs,
            path.display()
        );
        println!(
            "  replay: {}",
            replay_command(model.name(), &Origin::File(path.display().to_string()))
        );
    }
    Ok(found > 0)
}
