//! A case: one scenario saved whole (its spec and every choice its run drew), in a
//! human-readable JSON file. Cases replay exactly, shrink, and make up the regression store.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::spec::{ScenarioSpec, VERSION};

/// One scenario saved whole: its spec and every choice its run drew, with the verdicts and
/// coverage points named models must reach on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The seed it was drawn from, if it was (for the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The scenario.
    #[serde(flatten)]
    pub spec: ScenarioSpec,
    /// The run's choices, in order; choices past the end are 0.
    #[serde(with = "choice_list")]
    pub decisions: Vec<u32>,
    /// The verdict each named model must reach on it: an invariant code (`I1`) or `pass`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, String>,
    /// The coverage points each named model must reach on it (`hunt --point`): this
    /// interleaving keeps happening, and the verdict says nothing breaks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reaches: BTreeMap<String, Vec<String>>,
}

impl Case {
    /// The case as pretty JSON, as a case file holds it.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a case serialises");
        text.push('\n');
        text
    }

    /// A case read from its JSON; an error if it is not one, or of a harness version this
    /// build cannot replay.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let case: Self = serde_json::from_str(text).map_err(|e| format!("not a case file: {e}"))?;
        if case.spec.version > VERSION || case.spec.version == 0 {
            return Err(format!(
                "a case of harness version {}, which this build (versions 1 to {VERSION}) cannot replay",
                case.spec.version
            ));
        }
        Ok(case)
    }

    /// A case read from the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the case to the file at `path`.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_json())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Choices as one line of numbers, so a case file stays short enough to read.
mod choice_list {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(choices: &[u32], s: S) -> Result<S::Ok, S::Error> {
        let words: Vec<String> = choices.iter().map(u32::to_string).collect();
        s.serialize_str(&words.join(" "))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        String::deserialize(d)?
            .split_whitespace()
            .map(|word| {
                word.parse()
                    .map_err(|_| D::Error::custom(format!("`{word}` is not a choice")))
            })
            .collect()
    }
}
