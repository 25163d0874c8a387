//! `hunt`: independent campaigns after one invariant, and how many scenarios each took to
//! find it (a strategy's bug-finding power).

use std::cell::RefCell;
use std::path::PathBuf;

use super::UsageError;
use super::args::{Generation, HuntScenario};
use crate::Case;
use crate::explore::shrink::{SHRINK_BUDGET, shrink, steps};
use crate::explore::{Hunted, hunt as hunt_invariant};
use crate::report::html::{Class, Page, SubjectPart, Table, container_run, rate};
use crate::report::{Origin, replay_command};
use crate::subject::Subject;

/// What `hunt --invariant` was asked to do.
pub(super) struct Hunt<'a> {
    pub(super) model: &'a dyn Subject,
    pub(super) invariant: crate::Invariant,
    pub(super) campaigns: u64,
    pub(super) max: u64,
    pub(super) scenario: HuntScenario,
    pub(super) html: Option<PathBuf>,
}

/// `hunt`: runs the campaigns and prints how many scenarios each took to find the invariant;
/// true if no campaign found it.
pub(super) fn hunt(h: Hunt, generation: &Generation) -> Result<bool, UsageError> {
    if let Some(path) = &h.html {
        super::explore::write_file(path, "")?;
    }
    let model = h.model;
    let settings = generation.settings_for(model)?;
    let late = crate::scenario::catalog::late_restart(generation.strategy());
    let hunted = match h.scenario {
        HuntScenario::Generated => Hunted::Generated(&settings),
        HuntScenario::LateRestart => Hunted::Fixed(&late),
    };
    let began = std::time::Instant::now();
    let taken = RefCell::new(Vec::new());
    let (found, median) = campaigns_of(h.campaigns, h.max, |first| {
        let n = hunt_invariant(model, &hunted, first, h.max, h.invariant);
        taken.borrow_mut().push(n);
        n
    });
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{model} {} with {}: found in {found} of {} campaigns; median {median} scenarios; {seconds:.2} s",
        h.invariant,
        generation.strategy().name(),
        h.campaigns,
    );
    if let Some(path) = &h.html {
        let campaign = HuntCampaign {
            hunt: &h,
            generation,
            hunted: &hunted,
            taken: &taken.into_inner(),
            seconds,
        };
        super::page::write(path, &hunt_page(campaign))?;
    }
    Ok(found == 0)
}

/// A hunt that ran: what `--html` draws.
struct HuntCampaign<'a> {
    hunt: &'a Hunt<'a>,
    generation: &'a Generation,
    hunted: &'a Hunted<'a>,
    /// Each campaign's scenarios until it found the invariant.
    taken: &'a [Option<u64>],
    seconds: f64,
}

/// The hunt's page: each campaign, and the first finding (of the lowest campaign), shrunk.
fn hunt_page(c: HuntCampaign) -> Page {
    let (h, model) = (c.hunt, c.hunt.model);
    let seeds: Vec<u64> = c
        .taken
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| i as u64 * 1_000_000 + n - 1))
        .collect();
    let scenarios: u64 = c.taken.iter().map(|n| n.unwrap_or(h.max)).sum();
    let mut runs = Vec::new();
    if let Some(&seed) = seeds.first() {
        let scenario = c.hunted.scenario(seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(model);
        let case = Case::of_run(Some(seed), &spec, &outcome);
        let shrunk = shrink(model, case, h.invariant, SHRINK_BUDGET);
        let n = steps(&shrunk.outcome, &shrunk.case);
        let origin = c.generation.origin(seed);
        let heading = format!("{} at seed {seed}, shrunk to {n} steps", h.invariant);
        let file = format!("{model}-{}-seed{seed}.json", h.invariant.code());
        // A late-restart seed replays only from its case.
        let replay = match h.scenario {
            HuntScenario::Generated => replay_command(model.name(), &origin),
            HuntScenario::LateRestart => replay_command(model.name(), &Origin::File(file.clone())),
        };
        runs.push(container_run(
            model,
            heading,
            replay,
            Some((file, &shrunk.case)),
            &shrunk.case.spec,
            &shrunk.outcome,
        ));
    }
    let classes = seeds
        .first()
        .map(|&seed| Class {
            invariant: h.invariant.code(),
            title: h.invariant.title().into(),
            signature: format!("found in {} of {} campaigns", seeds.len(), h.campaigns),
            occurrences: seeds.len() as u64,
            seed,
            run: Some(0),
        })
        .into_iter()
        .collect();
    let rows = c
        .taken
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let first = i as u64 * 1_000_000;
            vec![
                i.to_string(),
                first.to_string(),
                n.map_or_else(|| format!("not within {}", h.max), |n| n.to_string()),
                n.map_or_else(String::new, |n| (first + n - 1).to_string()),
            ]
        })
        .collect();
    let strategy = c.generation.strategy().name();
    Page {
        command: "hunt".into(),
        title: format!("hunt: {model} {} with {strategy}", h.invariant),
        settings: vec![
            ("invariant".into(), h.invariant.to_string()),
            ("strategy".into(), strategy),
            (
                "faults".into(),
                format!("{:?}", c.generation.faults).to_lowercase(),
            ),
            ("campaigns".into(), h.campaigns.to_string()),
            ("at most".into(), format!("{} scenarios each", h.max)),
        ],
        subjects: vec![SubjectPart {
            name: model.name().into(),
            about: model.about().into(),
            verdict: if seeds.is_empty() { "pass" } else { "fail" }.into(),
            scenarios,
            seconds: c.seconds,
            per_second: rate(scenarios, c.seconds),
            unclassified: 0,
            classes,
            runs,
            coverage: Vec::new(),
            heat: None,
        }],
        tables: vec![Table {
            caption: "the campaigns: scenarios each took to find the invariant".into(),
            header: ["campaign", "seeds from", "scenarios", "seed"]
                .map(String::from)
                .to_vec(),
            rows,
        }],
    }
}

/// Runs `campaigns` hunts (campaign i from seed i * 1_000_000), printing each; how many found
/// their target, and the median scenarios taken (a campaign that never found it counts as
/// `max`).
pub(super) fn campaigns_of(
    campaigns: u64,
    max: u64,
    hunt: impl Fn(u64) -> Option<u64>,
) -> (usize, f64) {
    let mut taken: Vec<Option<u64>> = Vec::new();
    for campaign in 0..campaigns {
        let found = hunt(campaign * 1_000_000);
        let shown = found.map_or_else(|| format!("not within {max}"), |n| n.to_string());
        println!(
            "campaign {campaign:>3} (seeds from {:>10}): {shown}",
            campaign * 1_000_000
        );
        taken.push(found);
    }
    let counts: Vec<f64> = taken.iter().map(|t| t.unwrap_or(max) as f64).collect();
    (
        taken.iter().filter(|t| t.is_some()).count(),
        super::bench::median(counts),
    )
}
