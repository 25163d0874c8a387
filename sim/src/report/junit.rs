//! The JUnit XML form of a run report, for CI systems that show test results.

use quick_xml::escape::escape;

use super::coverage::PointReport;
use super::json::RunReport;

impl RunReport {
    /// JUnit XML: one test suite of one test case per model, failing with its distinct
    /// failures; one suite of one test case per required coverage point, failing if no
    /// scenario reached it.
    pub fn junit(&self) -> String {
        let failing = self.models.iter().filter(|m| m.verdict != "pass").count();
        let seconds: f64 = self.models.iter().map(|m| m.seconds).sum();
        let required: Vec<(&str, &PointReport)> = self
            .models
            .iter()
            .flat_map(|m| {
                m.coverage
                    .iter()
                    .filter(|p| p.need == "required")
                    .map(move |p| (m.model.as_str(), p))
            })
            .collect();
        let unreached = required
            .iter()
            .filter(|(_, p)| p.is_unreached_requirement())
            .count();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.push_str(&format!(
            "<testsuites name=\"lifecycle-sim\" tests=\"{}\" failures=\"{}\" time=\"{seconds:.3}\">\n",
            self.models.len() + required.len(),
            failing + unreached
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
        xml.push_str("  </testsuite>\n");
        xml.push_str(&format!(
            "  <testsuite name=\"lifecycle-sim coverage\" tests=\"{}\" failures=\"{unreached}\">\n",
            required.len()
        ));
        for (model, p) in &required {
            xml.push_str(&format!(
                "    <testcase classname=\"lifecycle-sim.coverage.{}\" name=\"{}\">\n",
                escape(*model),
                escape(p.point.as_str())
            ));
            if p.is_unreached_requirement() {
                xml.push_str(&format!(
                    "      <failure message=\"no scenario reached {}\" type=\"unreached\">{}</failure>\n",
                    escape(p.point.as_str()),
                    escape(p.about.as_deref().unwrap_or(""))
                ));
            } else {
                xml.push_str(&format!(
                    "      <system-out>reached in {} scenarios; first: {}</system-out>\n",
                    p.scenarios,
                    escape(p.replay.as_deref().unwrap_or(""))
                ));
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}
