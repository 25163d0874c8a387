//! A campaign's coverage as reports keep it: every point of the subject's catalog (declared
//! and world), whether it was required, in how many scenarios it was reached, and the replay
//! command of the first seed that reached it.

use serde::{Deserialize, Serialize};

use crate::coverage::catalog::Requirement;
use crate::coverage::{Need, Reach};
use crate::explore::Findings;
use crate::report::{Origin, replay_command};

/// One coverage point as a report keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointReport {
    /// The point's name.
    pub point: String,
    /// `declared` (in the manager's code) or `world` (observed by the harness).
    pub kind: String,
    /// `required`, `observed` (reported, not required) or `unreachable`.
    pub need: String,
    /// Why an unreachable point cannot be reached; what a declared point means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// In how many scenarios it was reached.
    pub scenarios: u64,
    /// The lowest seed that reached it.
    pub first_seed: Option<u64>,
    /// The command that replays that seed.
    pub replay: Option<String>,
}

impl PointReport {
    pub(crate) fn is_unreached_requirement(&self) -> bool {
        self.need == "required" && self.scenarios == 0
    }

    /// Adds another shard's count of the same point.
    pub(crate) fn merge(&mut self, other: &PointReport) {
        self.scenarios += other.scenarios;
        let earlier = match (self.first_seed, other.first_seed) {
            (Some(a), Some(b)) => b < a,
            (None, Some(_)) => true,
            _ => false,
        };
        if earlier {
            self.first_seed = other.first_seed;
            self.replay = other.replay.clone();
        }
    }
}

/// Every point of `f`'s catalog, under `requirement` (the catalog's own if `None`), then
/// every point heard that the catalog does not declare (`undeclared`: a catalog to update).
pub fn points(
    f: &Findings,
    requirement: Option<&Requirement>,
    origin: impl Fn(u64) -> Origin,
) -> Vec<PointReport> {
    let requirement = requirement.map(|r| r.for_model(&f.model));
    let known: std::collections::BTreeSet<&str> = f.catalog.all().collect();
    let undeclared = f
        .points
        .points
        .iter()
        .filter(|(point, _)| !known.contains(point.as_str()))
        .map(|(point, reach)| PointReport {
            point: point.clone(),
            kind: "undeclared".into(),
            need: "observed".into(),
            about: None,
            scenarios: reach.scenarios,
            first_seed: Some(reach.first_seed),
            replay: Some(replay_command(&f.model, &origin(reach.first_seed))),
        });
    f.catalog
        .all()
        .map(|point| {
            let need = f.catalog.need_under(point, requirement.as_ref());
            let reach = f.points.get(point);
            let about = match need {
                Need::Unreachable(why) => Some(why.to_string()),
                _ => f.catalog.about(point).map(str::to_string),
            };
            PointReport {
                point: point.to_string(),
                kind: if point.starts_with("world.") {
                    "world"
                } else {
                    "declared"
                }
                .into(),
                need: match need {
                    Need::Required => "required",
                    Need::Observed => "observed",
                    Need::Unreachable(_) => "unreachable",
                }
                .into(),
                about,
                scenarios: reach.map_or(0, |r: Reach| r.scenarios),
                first_seed: reach.map(|r| r.first_seed),
                replay: reach.map(|r| replay_command(&f.model, &origin(r.first_seed))),
            }
        })
        .chain(undeclared)
        .collect()
}
