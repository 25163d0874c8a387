//! The files a run leaves for CI: a JSON report (every model, every distinct failure with its
//! shrunk case) and a JUnit XML file (one test case per model).

use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::explore::{Failure, Findings};
use crate::report::{Origin, replay_command};
use crate::shrink::steps;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The command line's settings, as text.
    pub seeds: String,
    pub shard: String,
    pub jobs: usize,
    pub faults: String,
    pub strategy: String,
    /// Stopped by Ctrl-C before the seeds or the time ran out.
    pub interrupted: bool,
    pub models: Vec<ModelReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub model: String,
    /// `pass` or `fail`.
    pub verdict: String,
    pub scenarios: u64,
    pub seconds: f64,
    pub interleavings: usize,
    pub state_operation_pairs: usize,
    pub failures: Vec<FailureReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    pub invariant: String,
    pub signature: String,
    /// The first failing seed of this kind, and how many failing seeds had it.
    pub seed: u64,
    pub occurrences: u64,
    pub detail: String,
    pub replay: String,
    /// Steps of the shrunk case, if it was shrunk.
    pub shrunk_steps: Option<usize>,
    /// The shrunk case (or the original one), ready for `replay --decisions`.
    pub case: Case,
}

impl FailureReport {
    pub fn new(f: &Failure, origin: &Origin, model: crate::models::Model) -> Self {
        Self {
            invariant: f.invariant.code(),
            signature: f.signature.clone(),
            seed: f.seed,
            occurrences: f.occurrences,
            detail: f
                .outcome
                .violation
                .as_ref()
                .map(|v| v.detail.clone())
                .unwrap_or_default(),
            replay: replay_command(model, origin),
            shrunk_steps: f.shrunk.as_ref().map(|s| steps(&s.outcome, &s.case)),
            case: f
                .shrunk
                .as_ref()
                .map_or_else(|| f.case.clone(), |s| s.case.clone()),
        }
    }
}

impl ModelReport {
    pub fn new(f: &Findings, origin: impl Fn(u64) -> Origin) -> Self {
        Self {
            model: f.model.name().into(),
            verdict: if f.failures.is_empty() {
                "pass"
            } else {
                "fail"
            }
            .into(),
            scenarios: f.scenarios,
            seconds: f.elapsed.as_secs_f64(),
            interleavings: f.interleavings.len(),
            state_operation_pairs: f.coverage.len(),
            failures: f
                .failures
                .iter()
                .map(|x| FailureReport::new(x, &origin(x.seed), f.model))
                .collect(),
        }
    }
}

impl RunReport {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serialises");
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a report: {e}"))
    }

    /// JUnit XML: one test suite, one test case per model, failing with its distinct failures.
    pub fn junit(&self) -> String {
        let failing = self.models.iter().filter(|m| m.verdict != "pass").count();
        let seconds: f64 = self.models.iter().map(|m| m.seconds).sum();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.push_str(&format!(
            "<testsuites name=\"lifecycle-sim\" tests=\"{}\" failures=\"{failing}\" time=\"{seconds:.3}\">\n",
            self.models.len()
        ));
        xml.push_str(&format!(
            "  <testsuite name=\"lifecycle-sim explore\" tests=\"{}\" failures=\"{failing}\" time=\"{seconds:.3}\">\n",
            self.models.len()
        ));
        for m in &self.models {
            xml.push_str(&format!(
                "    <testcase classname=\"lifecycle-sim.explore\" name=\"{}\" time=\"{:.3}\">\n",
                escape(m.model.as_str()),
                m.seconds
            ));
            if let Some(first) = m.failures.first() {
                let mut body = String::new();
                for f in &m.failures {
                    body.push_str(&format!(
                        "{} (seed {}, {} failing seeds): {}\n  {}\n",
                        f.signature, f.seed, f.occurrences, f.detail, f.replay
                    ));
                }
                xml.push_str(&format!(
                    "      <failure message=\"{} distinct failure(s); first: {} at seed {}\" type=\"{}\">{}</failure>\n",
                    m.failures.len(),
                    escape(first.invariant.as_str()),
                    first.seed,
                    escape(first.invariant.as_str()),
                    escape(body.as_str())
                ));
            }
            xml.push_str(&format!(
                "      <system-out>{} scenarios, {} distinct interleavings, {} (state, operation) pairs</system-out>\n",
                m.scenarios, m.interleavings, m.state_operation_pairs
            ));
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}
