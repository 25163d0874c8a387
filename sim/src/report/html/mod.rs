//! A campaign as one self-contained HTML page (`--html FILE`): the campaign's settings and
//! failure classes, each finding's timeline as swimlanes with its violating step highlighted,
//! coverage, the state × operation heat map, and for `merge` the shards side by side.
//!
//! The page is `page.html` with the campaign embedded as JSON; its inline script draws it.
//! It loads nothing (its content security policy forbids it), and the same campaign always
//! gives the same page, except for the measured seconds and rates.

mod build;
mod lanes;

use serde::Serialize;

pub(crate) use build::{Told, container_run, rate, run_of, subject_of_report};
pub(crate) use lanes::{Timeline, timeline};

use super::coverage::PointReport;
use super::grid::HeatMap;

const TEMPLATE: &str = include_str!("page.html");
/// Where the template takes the campaign's JSON.
const DATA_SLOT: &str = "{{DATA}}";
/// Where the template takes the page's title.
const TITLE_SLOT: &str = "{{TITLE}}";

/// Everything the page shows.
#[derive(Serialize)]
pub(crate) struct Page {
    /// Which command wrote it (`explore`, `hunt`, `system`, `replay`, `merge`).
    pub(crate) command: String,
    pub(crate) title: String,
    /// The campaign's settings, in order: name and value.
    pub(crate) settings: Vec<(String, String)>,
    /// Each subject's campaign (in `system`, each policy and model pair).
    pub(crate) subjects: Vec<SubjectPart>,
    /// Tables beside the campaign: the shards side by side, a hunt's campaigns.
    pub(crate) tables: Vec<Table>,
}

/// One subject's campaign.
#[derive(Serialize)]
pub(crate) struct SubjectPart {
    pub(crate) name: String,
    pub(crate) about: String,
    /// `pass` or `fail`.
    pub(crate) verdict: String,
    pub(crate) scenarios: u64,
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    /// Failing scenarios past the cap on classes, not told apart.
    pub(crate) unclassified: u64,
    pub(crate) classes: Vec<Class>,
    /// Each finding (and, for a replay, the run even if it passed), with its timeline.
    pub(crate) runs: Vec<Run>,
    pub(crate) coverage: Vec<PointReport>,
    pub(crate) heat: Option<HeatMap>,
}

/// A class of failure and how often it was met.
#[derive(Serialize)]
pub(crate) struct Class {
    pub(crate) invariant: String,
    pub(crate) title: String,
    /// What tells the class apart.
    pub(crate) signature: String,
    pub(crate) occurrences: u64,
    pub(crate) seed: u64,
    /// The run in [`SubjectPart::runs`] that shows it, if one does.
    pub(crate) run: Option<usize>,
}

/// The violation a run ended in.
#[derive(Serialize)]
pub(crate) struct Broke {
    pub(crate) invariant: String,
    pub(crate) title: String,
    /// The invariant's statement.
    pub(crate) statement: String,
    /// What broke, in this run.
    pub(crate) detail: String,
}

/// A run told in full.
#[derive(Serialize)]
pub(crate) struct Run {
    pub(crate) heading: String,
    pub(crate) violation: Option<Broke>,
    /// The command that replays it.
    pub(crate) replay: String,
    /// Its case file, to save and replay with `--decisions` (name, JSON).
    pub(crate) case: Option<(String, String)>,
    /// What the finding rests on beyond the real code.
    pub(crate) rests_on: Vec<String>,
    /// The subject's code this run went through: its coverage points, with what each means.
    pub(crate) code: Vec<(String, String)>,
    pub(crate) timeline: Timeline,
    /// The text timeline, as `replay` prints it.
    pub(crate) text: String,
}

/// A table of text: a caption, a header row and rows.
#[derive(Serialize)]
pub(crate) struct Table {
    pub(crate) caption: String,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Page {
    /// The page as HTML.
    pub(crate) fn render(&self) -> String {
        let json = serde_json::to_string(self).expect("a page serialises");
        // Inside <script>, `</script>` or `<!--` in a string would end or bend the element;
        // `<` only ever occurs inside JSON strings, where `\u003c` reads back the same.
        let json = json.replace('<', "\\u003c");
        TEMPLATE
            .replacen(TITLE_SLOT, &escape(&self.title), 1)
            .replacen(DATA_SLOT, &json, 1)
    }
}

/// Text made safe for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
