//! `cargo bench -p head-to-head`: every race of the panel hunted by every contender, K
//! campaigns each within a budget, printed as one table (and written into BENCHMARKS.md with
//! `--update`).

mod proptest_machine;
mod quiet;
mod roster;
mod shuttle_check;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use head_to_head::contenders::stress::Stress;
use head_to_head::contenders::{Contender, first_seed};
use head_to_head::panel::workspace_root;
use head_to_head::table::{Tally, render};
use head_to_head::{Race, load_panel};
use quiet::Quiet;

#[derive(Parser)]
#[command(
    about = "The race panel, hunted by this harness and by the tools a team would pick instead"
)]
struct Args {
    /// Independent campaigns per race and contender.
    #[arg(long, default_value_t = 5)]
    campaigns: u64,
    /// A campaign's budget in seconds: CPU time on one thread (wall time on every core for
    /// the real-time stress test).
    #[arg(long, default_value_t = 10.0)]
    budget: f64,
    /// Only the races whose name contains this.
    #[arg(long)]
    race: Option<String>,
    /// Only the contenders whose name contains this.
    #[arg(long)]
    contender: Option<String>,
    /// The panel file (a relative path is from the workspace root).
    #[arg(long)]
    panel: Option<PathBuf>,
    /// Write the table into this markdown file, between its head-to-head markers (a relative
    /// path is from the workspace root: `cargo bench` runs this in the crate's folder).
    #[arg(long)]
    update: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn hunt(contender: &dyn Contender, race: &Race, campaigns: u64, budget: Duration) -> Tally {
    if let Some(why) = contender.cannot(race) {
        return Tally::Cannot(why);
    }
    let runs = if contender.deterministic() {
        1
    } else {
        campaigns
    };
    let mut attempts = Vec::new();
    for k in 0..runs {
        Quiet::last(); // An earlier campaign's message is not this one's.
        // One contender's bug must not cost the rest of the run's results.
        match std::panic::catch_unwind(AssertUnwindSafe(|| contender.campaign(race, k, budget))) {
            Ok(attempt) => attempts.push(attempt),
            Err(payload) => {
                let message = Quiet::last()
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into());
                return Tally::Broke(format!("campaign {k}: {message}"));
            }
        }
    }
    Tally::Ran {
        attempts,
        clock: contender.clock(),
        harness: contender.name().starts_with("lifecycle-sim"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.budget > 0.0 && args.budget.is_finite()) || args.campaigns == 0 {
        eprintln!(
            "error: --budget must be a positive number of seconds and --campaigns at least 1"
        );
        return ExitCode::from(2);
    }
    let budget = Duration::from_secs_f64(args.budget);
    let update_path = args.update.as_ref().map(|p| workspace_root().join(p));
    // Refuse a file the table cannot go into now, not after the whole hunt.
    if let Some(path) = &update_path
        && let Err(e) = markers(path)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let panel = args
        .panel
        .as_ref()
        .map(|p| workspace_root().join(p))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("panel.json"));
    let races: Vec<Race> = match load_panel(&panel) {
        Ok(races) => races
            .into_iter()
            .filter(|r| {
                args.race
                    .as_ref()
                    .is_none_or(|s| r.name.contains(s.as_str()))
            })
            .collect(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let contenders: Vec<Box<dyn Contender>> = roster::contenders(Stress::on_every_core())
        .into_iter()
        .filter(|c| {
            args.contender
                .as_ref()
                .is_none_or(|s| c.name().contains(s.as_str()))
        })
        .collect();
    if races.is_empty() || contenders.is_empty() {
        eprintln!("error: no race or no contender matches");
        return ExitCode::from(2);
    }
    // Read before the hunt: the commit is the code that ran, whatever changes during it.
    let (machine, commit) = (machine(), commit());
    let names: Vec<String> = contenders.iter().map(|c| c.name()).collect();
    let mut results = Vec::new();
    for race in &races {
        let mut row = Vec::new();
        for contender in &contenders {
            eprintln!("{} <- {} ...", race.name, contender.name());
            let tally = hunt(contender.as_ref(), race, args.campaigns, budget);
            eprintln!("  {tally:?}");
            row.push(tally);
        }
        results.push(row);
    }
    let table = render(&races, &names, &results, args.campaigns, budget);
    // The command that reproduces this table, filters included.
    let filters: String = [("--race", &args.race), ("--contender", &args.contender)]
        .iter()
        .filter_map(|(flag, value)| value.as_ref().map(|v| format!(" {flag} '{v}'")))
        .collect();
    let header = format!(
        "`cargo bench -p head-to-head -- --campaigns {} --budget {}{filters}` on {}, at commit {}: {} campaigns a race and contender, each within {} s (CPU time on one thread; wall time on every core for the real-time stress test); campaign k of a seeded contender starts at seed {}·k; panel: `{}`.\n\n",
        args.campaigns,
        args.budget,
        machine,
        commit,
        args.campaigns,
        args.budget,
        first_seed(1),
        panel
            .strip_prefix(workspace_root())
            .unwrap_or(&panel)
            .display()
    );
    println!("{header}{table}");
    if let Some(path) = update_path {
        if let Err(e) = update(&path, &format!("{header}{table}")) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        eprintln!("wrote the table into {}", path.display());
    }
    // A contender that broke is a bug in the bench, even with its row in the table.
    if results
        .iter()
        .flatten()
        .any(|t| matches!(t, Tally::Broke(_)))
    {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The machine, as BENCHMARKS.md records it: cores, CPU model, memory.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let meminfo = read("/proc/meminfo");
    let gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("? GiB".to_string(), |kib| {
            format!("{:.0} GiB", kib / 1024.0 / 1024.0)
        });
    format!("{cores} cores ({model}), {gib}")
}

/// The commit the bench ran at (`git rev-parse --short HEAD`), with `+changes` if the tree
/// was not clean.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}+changes")
    } else {
        head
    }
}

const BEGIN: &str = "<!-- head-to-head:begin -->";
const END: &str = "<!-- head-to-head:end -->";

/// The text of `path` and where its markers are.
fn markers(path: &Path) -> Result<(String, usize, usize), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => Ok((text, b, e)),
        _ => Err(format!(
            "{} has no {BEGIN} ... {END} markers",
            path.display()
        )),
    }
}

/// Replaces what lies between the markers in `path` with `section`.
fn update(path: &Path, section: &str) -> Result<(), String> {
    let (text, b, e) = markers(path)?;
    let new = format!("{}{BEGIN}\n{section}{}", &text[..b], &text[e..]);
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
