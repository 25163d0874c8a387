//! Merging the JSON reports of a sweep split over machines (`--shard K/N`) into one, as if one
//! machine had run every seed: scenarios, failures and coverage add up, each distinct failure
//! and each point keeps its first (lowest) seed.

use std::collections::BTreeMap;

use super::json::{ModelReport, RunReport};

impl RunReport {
    /// The reports of several shards as one. Models are matched by name, in first-seen order.
    pub fn merge(reports: &[RunReport]) -> RunReport {
        let mut merged = RunReport {
            seeds: join(reports.iter().map(|r| r.seeds.as_str())),
            shard: join(reports.iter().map(|r| r.shard.as_str())),
            jobs: reports.iter().map(|r| r.jobs).max().unwrap_or(0),
            faults: join(reports.iter().map(|r| r.faults.as_str())),
            strategy: join(reports.iter().map(|r| r.strategy.as_str())),
            interrupted: reports.iter().any(|r| r.interrupted),
            models: Vec::new(),
        };
        for report in reports {
            for model in &report.models {
                match merged.models.iter_mut().find(|m| m.model == model.model) {
                    Some(known) => known.merge(model),
                    None => merged.models.push(model.clone()),
                }
            }
        }
        merged
    }
}

/// The distinct values, in first-seen order, joined.
fn join<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(", ")
}

impl ModelReport {
    fn merge(&mut self, other: &ModelReport) {
        self.scenarios += other.scenarios;
        self.seconds += other.seconds;
        // Distinct counts cannot be added exactly: shards may share interleavings and pairs.
        self.interleavings += other.interleavings;
        self.state_operation_pairs = self.state_operation_pairs.max(other.state_operation_pairs);
        self.unclassified += other.unclassified;
        for cell in &other.state_operations {
            match self.state_operations.iter_mut().find(|c| {
                (&c.operation, &c.status, &c.call) == (&cell.operation, &cell.status, &cell.call)
            }) {
                Some(known) => known.scenarios += cell.scenarios,
                None => self.state_operations.push(cell.clone()),
            }
        }
        for failure in &other.failures {
            match self
                .failures
                .iter_mut()
                .find(|f| f.signature == failure.signature)
            {
                Some(known) => {
                    let occurrences = known.occurrences + failure.occurrences;
                    if failure.seed < known.seed {
                        *known = failure.clone();
                    }
                    known.occurrences = occurrences;
                }
                None => self.failures.push(failure.clone()),
            }
        }
        self.failures.sort_by_key(|f| f.seed);
        let mut points: BTreeMap<String, usize> = self
            .coverage
            .iter()
            .enumerate()
            .map(|(i, p)| (p.point.clone(), i))
            .collect();
        for point in &other.coverage {
            match points.get(&point.point) {
                Some(&i) => self.coverage[i].merge(point),
                None => {
                    points.insert(point.point.clone(), self.coverage.len());
                    self.coverage.push(point.clone());
                }
            }
        }
        self.verdict = if self.failures.is_empty() {
            "pass"
        } else {
            "fail"
        }
        .into();
    }
}
