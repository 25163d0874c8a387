//! The race panel: real findings of the historical models and of the real project's bugs
//! (`crates/real-bugs`), each a saved scenario (agents, operations and their times, faults,
//! timing), the manager it runs on and the invariant its bug breaks. Data, not code: a race
//! is added by a line in `panel.json`, naming either a built-in `model` or a real bug's
//! `subject`.

use std::path::{Path, PathBuf};

use lifecycle_sim::scenario::spec::{ScenarioSpec, Strategy, VERSION};
use lifecycle_sim::scenario::workload::Trigger;
use lifecycle_sim::{Case, Invariant};
use serde::Deserialize;

use crate::target::Target;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    /// A built-in model (`legacy`, `abort-token`, ...).
    #[serde(default)]
    model: Option<String>,
    /// A real bug's manager (`abort-orphan-pre`, ...), as `crates/real-bugs` names it.
    #[serde(default)]
    subject: Option<String>,
    invariant: String,
    case: String,
    cites: String,
}

#[derive(Clone, Debug)]
pub struct Race {
    pub name: String,
    /// The manager it runs on.
    pub target: Target,
    pub invariant: Invariant,
    /// The scenario file, relative to the workspace root.
    pub case: String,
    /// Where the bug is in the real code.
    pub cites: String,
    /// The workload, faults and timing (its recorded choices are not used: finding them is
    /// the contest), under the harness's current semantics.
    pub spec: ScenarioSpec,
}

/// The workspace root (the panel's case paths are relative to it).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Canonical, so that paths under it print relative to it.
    root.canonicalize().unwrap_or(root)
}

/// The panel in `panel.json`, or why it cannot be read.
pub fn load_panel(path: &Path) -> Result<Vec<Race>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let entries: Vec<Entry> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    entries.into_iter().map(race).collect()
}

fn race(e: Entry) -> Result<Race, String> {
    let target = match (&e.model, &e.subject) {
        (Some(model), None) => {
            Target::model(model).ok_or_else(|| format!("race {:?}: no model {model:?}", e.name))?
        }
        (None, Some(subject)) => Target::real_bug(subject)
            .ok_or_else(|| format!("race {:?}: no real bug's subject {subject:?}", e.name))?,
        _ => {
            return Err(format!(
                "race {:?}: name exactly one of `model` and `subject`",
                e.name
            ));
        }
    };
    let invariant = Invariant::parse(&e.invariant)
        .ok_or_else(|| format!("race {:?}: no invariant {:?}", e.name, e.invariant))?;
    let case = Case::load(&workspace_root().join(&e.case))?;
    let mut spec = case.spec;
    // The other tools have no "while this call is in flight": a race is a timed workload.
    if spec
        .workload
        .ops
        .iter()
        .any(|op| !matches!(op.when, Trigger::At(_)))
    {
        return Err(format!(
            "race {:?}: every operation must be issued at a time (`at`), not on a trigger",
            e.name
        ));
    }
    spec.version = VERSION;
    spec.strategy = Strategy::Random;
    Ok(Race {
        name: e.name,
        target,
        invariant,
        case: e.case,
        cites: e.cites,
        spec,
    })
}
