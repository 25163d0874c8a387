//! `system --seed N` and `--case FILE`: one system scenario told (its timeline, its trace,
//! its page), or shrunk and saved.

use super::UsageError;
use super::system::SystemArgs;
use crate::subject::Subject;
use crate::system::saved::{SystemCase, shrink};
use crate::system::scenario::SystemSpec;

/// Runs one system scenario and prints its verdict and timeline.
pub(super) fn tell(
    model: &dyn Subject,
    spec: &SystemSpec,
    seed: u64,
    args: &SystemArgs,
) -> Result<bool, UsageError> {
    let trace_out = args.trace_out.as_deref();
    let outcome = model
        .run_system(spec, seed)
        .ok_or_else(|| UsageError(format!("`{}` cannot run as a container", model.name())))?;
    println!(
        "system scenario {seed}: town policy {}, container {}; agents {:?}; families: {}; backend faults: {}",
        spec.policy.name(),
        model.name(),
        spec.agents,
        spec.families(),
        spec.faults
    );
    match &outcome.violation {
        Some(v) => println!("VIOLATION {}: {}", v.invariant, v.detail),
        None => println!("no violation"),
    }
    print!("{}", outcome.history.timeline());
    if let Some(path) = trace_out {
        let title = format!(
            "system seed {seed}: {} x {}",
            spec.policy.name(),
            model.name()
        );
        let trace = crate::report::chrome::trace_of(
            &outcome.history,
            outcome.elapsed,
            outcome.violation.as_ref(),
            &title,
        );
        std::fs::write(path, trace.to_string())
            .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
        eprintln!(
            "trace written to {} (open it in https://ui.perfetto.dev)",
            path.display()
        );
    }
    if let Some(path) = &args.html {
        let replay = args.replay_command(spec.policy, model.name(), seed);
        super::page::write(
            path,
            &super::system_page::one(model, spec, seed, replay, &outcome),
        )?;
    }
    Ok(outcome.violation.is_none())
}

pub(super) fn shrink_and_save(
    args: &SystemArgs,
    model: &dyn Subject,
    spec: &SystemSpec,
    seed: u64,
) -> Result<bool, UsageError> {
    let Some(invariant) = model.system_verdict(spec, seed) else {
        println!("seed {seed} passes on {}: nothing to shrink", model.name());
        return Ok(true);
    };
    let (small, runs) = shrink(spec, invariant, |s| model.system_verdict(s, seed));
    println!(
        "shrunk in {runs} runs: {} agents; families: {}; backend faults: {}",
        small.agents.len(),
        small.families(),
        small.faults
    );
    if let Some(path) = &args.save {
        let expect = crate::subject::Model::ALL
            .into_iter()
            .map(|m| {
                let verdict = m
                    .system_verdict(&small, seed)
                    .map_or("pass".to_string(), |i| i.code());
                (m.name().to_string(), verdict)
            })
            .collect();
        let case = SystemCase {
            seed,
            spec: small.clone(),
            expect,
        };
        std::fs::write(path, case.to_json() + "\n")
            .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
        println!("saved {}", path.display());
    }
    tell(model, &small, seed, args)
}
