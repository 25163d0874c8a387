//! Coverage for `cargo test`: sweep a subject and assert that every required point was
//! reached (what `explore --require-coverage` does), naming the ones that were not.

use std::ops::Range;

use crate::coverage::{Catalog, Tally};
use crate::explore::{SeedSet, SweepConfig, sweep};
use crate::scenario::Settings;
use crate::subject::Subject;

/// What sweeps of one subject reached.
pub struct Coverage {
    /// The subject's name.
    pub subject: String,
    /// Its catalog: which points are required.
    pub catalog: Catalog,
    /// What the sweeps reached.
    pub tally: Tally,
    /// How many scenarios they ran.
    pub scenarios: u64,
}

/// Sweeps `seeds` of each of `settings` on `subject` (on every core, not shrinking what
/// fails), and merges what they reached.
pub fn coverage_of(subject: &dyn Subject, settings: &[Settings], seeds: Range<u64>) -> Coverage {
    let config = SweepConfig {
        seeds: SeedSet::all(Some(seeds)),
        shrink: false,
        ..SweepConfig::default()
    };
    let mut coverage = Coverage {
        subject: subject.name().to_string(),
        catalog: subject.catalog(),
        tally: Tally::default(),
        scenarios: 0,
    };
    for settings in settings {
        let findings = sweep(subject, settings, &config, |_| {}, |_| {});
        coverage.tally.merge(&findings.points);
        coverage.scenarios += findings.scenarios;
    }
    coverage
}

impl Coverage {
    /// What both reached (`other` swept the same subject, perhaps over more seeds).
    pub fn and(mut self, other: Coverage) -> Coverage {
        self.tally.merge(&other.tally);
        self.scenarios += other.scenarios;
        self
    }

    /// The required points never reached.
    pub fn unreached(&self) -> Vec<&'static str> {
        let required = self.catalog.required();
        self.tally.unreached(required)
    }

    /// The points the catalog calls unreachable that were reached after all: its reason is
    /// wrong.
    pub fn reached_though_unreachable(&self) -> Vec<&'static str> {
        self.catalog
            .unreachable
            .iter()
            .map(|(point, _)| *point)
            .filter(|point| self.tally.get(point).is_some())
            .collect()
    }

    /// Panics, naming each required point never reached, and each point called unreachable
    /// that was reached.
    pub fn assert_reaches_every_required_point(&self) {
        let wrong = self.reached_though_unreachable();
        assert!(
            wrong.is_empty(),
            "{}: reached the point(s) its catalog calls unreachable: {}",
            self.subject,
            wrong.join(", ")
        );
        let missed = self.unreached();
        assert!(
            missed.is_empty(),
            "{}: {} scenarios never reached the required point(s): {}",
            self.subject,
            self.scenarios,
            missed.join(", ")
        );
    }
}
