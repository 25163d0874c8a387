//! The race panel: real findings of the historical models, each a saved scenario (agents,
//! operations and their times, faults, timing) and the invariant its bug breaks. Data, not
//! code: a race is added by a line in `panel.json`.

use std::path::{Path, PathBuf};

use lifecycle_sim::scenario::spec::{ScenarioSpec, Strategy, VERSION};
use lifecycle_sim::scenario::workload::Trigger;
use lifecycle_sim::{Case, Invariant, Model};
use serde::Deserialize;

#[derive(Deserialize)]
struct Entry {
    name: String,
    model: String,
    invariant: String,
    case: String,
    cites: String,
}

#[derive(Clone, Debug)]
pub struct Race {
    pub name: String,
    pub model: Model,
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
    let model = Model::ALL
        .into_iter()
        .find(|m| m.name() == e.model)
        .ok_or_else(|| format!("race {:?}: no model {:?}", e.name, e.model))?;
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
        model,
        invariant,
        case: e.case,
        cites: e.cites,
        spec,
    })
}
