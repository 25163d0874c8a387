//! `system --html FILE`: a system sweep (each policy and model pair) or one system run as
//! the HTML page.

use agent_lifecycle::AgentId;

use super::page::one_run_page;
use super::system::{Found, SystemArgs};
use crate::check::Invariant;
use crate::report::html::{Class, Page, Run, SubjectPart, Told, rate, run_of};
use crate::subject::Subject;
use crate::system::scenario::SystemSpec;
use crate::system::scene::SystemOutcome;
use crate::system::town::TownPolicy;

/// A system run drawn: the town's, the network's and the container's lanes, and each agent's
/// and server's.
fn run(heading: String, replay: String, spec: &SystemSpec, outcome: &SystemOutcome) -> Run {
    run_of(Told {
        heading,
        replay,
        agents: spec.agents.iter().map(|(a, _)| AgentId::new(a)).collect(),
        history: &outcome.history,
        elapsed: outcome.elapsed,
        violation: outcome.violation.as_ref(),
        rests_on: Vec::new(),
        code: Vec::new(),
        case: None,
    })
}

fn settings(spec: &SystemSpec, model: &dyn Subject) -> Vec<(String, String)> {
    vec![
        ("town policy".to_string(), spec.policy.name().to_string()),
        ("container".into(), model.name().into()),
        ("families".into(), spec.families()),
        ("backend faults".into(), spec.faults.to_string()),
    ]
}

/// `system --seed N --html` (or `--case`): the one run.
pub(super) fn one(
    model: &dyn Subject,
    spec: &SystemSpec,
    seed: u64,
    replay: String,
    outcome: &SystemOutcome,
) -> Page {
    let heading = match &outcome.violation {
        Some(v) => format!("system seed {seed} violates {}", v.invariant),
        None => format!("system seed {seed} passes"),
    };
    let title = format!(
        "system: {} x {}, seed {seed}",
        spec.policy.name(),
        model.name()
    );
    let name = format!("{} x {}", spec.policy.name(), model.name());
    let run = run(heading, replay, spec, outcome);
    one_run_page(
        "system",
        title,
        settings(spec, model),
        (&name, model.about()),
        run,
        seed,
    )
}

/// One pair of a sweep: its failures by invariant, and its first failing run drawn (not
/// shrunk: `system --seed N --shrink` shrinks it).
pub(super) fn pair(
    args: &SystemArgs,
    policy: TownPolicy,
    model: &dyn Subject,
    f: &Found,
) -> SubjectPart {
    let runs: Vec<Run> = f
        .first
        .iter()
        .map(|(seed, outcome)| {
            let spec = SystemSpec::from_seed(*seed, policy, args.families());
            let heading = format!("first failing seed {seed} (not shrunk)");
            let replay = args.replay_command(policy, model.name(), *seed);
            run(heading, replay, &spec, outcome)
        })
        .collect();
    let first_code = f
        .first
        .as_ref()
        .and_then(|(_, o)| o.violation.as_ref())
        .map(|v| v.invariant.code());
    let classes = f
        .by_invariant
        .iter()
        .map(|(code, &(occurrences, seed))| Class {
            invariant: code.clone(),
            title: Invariant::parse(code).map_or("", |i| i.title()).into(),
            signature: code.clone(),
            occurrences,
            seed,
            run: (first_code.as_ref() == Some(code)).then_some(0),
        })
        .collect();
    SubjectPart {
        name: format!("{} x {}", policy.name(), model.name()),
        about: model.about().into(),
        verdict: if f.first.is_some() { "fail" } else { "pass" }.into(),
        scenarios: f.scenarios,
        seconds: f.seconds,
        per_second: rate(f.scenarios, f.seconds),
        unclassified: 0,
        classes,
        runs,
        coverage: Vec::new(),
        heat: None,
    }
}

/// The sweep's page.
pub(super) fn sweep(args: &SystemArgs, parts: Vec<SubjectPart>) -> Page {
    let seeds = args.seeds.as_ref().map_or_else(
        || {
            format!(
                "from 0 for {} per pair",
                humantime::format_duration(args.time)
            )
        },
        |r| format!("{}..{}", r.start, r.end),
    );
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    Page {
        command: "system".into(),
        title: format!("system: {}, seeds {seeds}", names.join(", ")),
        settings: vec![
            ("seeds".into(), seeds),
            (
                "families".into(),
                format!("{:?}", args.families()).to_lowercase(),
            ),
            ("jobs".into(), args.jobs.to_string()),
        ],
        subjects: parts,
        tables: Vec::new(),
    }
}
