//! A campaign's coverage: for every point, in how many scenarios it was reached and the first
//! (lowest) seed that reached it. Merged across jobs in seed order, and across shards.

use std::collections::{BTreeMap, BTreeSet};

/// How often one point was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// In how many scenarios it was reached.
    pub scenarios: u64,
    /// The lowest seed that reached it.
    pub first_seed: u64,
}

/// A campaign's coverage: how often each point was reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Each point reached, by name.
    pub points: BTreeMap<String, Reach>,
}

impl Tally {
    /// Counts the points one scenario (of `seed`) reached.
    pub fn add(&mut self, seed: u64, reached: &BTreeSet<&'static str>) {
        for &point in reached {
            self.count(
                point,
                Reach {
                    scenarios: 1,
                    first_seed: seed,
                },
            );
        }
    }

    /// Adds another campaign's count of a point (another shard's).
    pub fn count(&mut self, point: &str, reach: Reach) {
        match self.points.get_mut(point) {
            Some(known) => {
                known.scenarios += reach.scenarios;
                known.first_seed = known.first_seed.min(reach.first_seed);
            }
            None => {
                self.points.insert(point.to_string(), reach);
            }
        }
    }

    /// Adds another campaign's tally (another shard's, or another sweep's).
    pub fn merge(&mut self, other: &Tally) {
        for (point, reach) in &other.points {
            self.count(point, *reach);
        }
    }

    /// How often `point` was reached; `None` if never.
    pub fn get(&self, point: &str) -> Option<Reach> {
        self.points.get(point).copied()
    }

    /// Of `required`, the points never reached, in order.
    pub fn unreached<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        required
            .into_iter()
            .filter(|p| !self.points.contains_key(*p))
            .collect()
    }
}
