//! The JUnit XML form of a run report, for CI systems that show test results.

use quick_xml::escape::escape;

use super::json::RunReport;

impl RunReport {
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
