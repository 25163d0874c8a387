//! A system scenario saved whole (its spec and its seed, which draws the backend's choices),
//! with the verdicts expected of it, and shrinking: fewer agents, fewer and shorter
//! partitions and holds, no eviction, stop or failed connection, fewer backend fault families,
//! for as long as the same invariant still fails.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scenario::SystemSpec;
use crate::check::Invariant;

/// A system scenario saved whole: its seed, its spec, and the verdict each container model
/// must reach on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemCase {
    /// Seeds the backend's choices and turmoil's network.
    pub seed: u64,
    /// The scenario.
    pub spec: SystemSpec,
    /// The verdict each container model must reach on it: an invariant's code, or `pass`.
    #[serde(default)]
    pub expect: BTreeMap<String, String>,
}

impl SystemCase {
    /// The case as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a case serialises")
    }

    /// A case read from its JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a system case: {e}"))
    }
}

/// The smallest spec found on which `judge` (a container model's verdict on a spec) is still
/// `invariant`, and how many runs the search took.
pub fn shrink(
    spec: &SystemSpec,
    invariant: Invariant,
    judge: impl Fn(&SystemSpec) -> Option<Invariant>,
) -> (SystemSpec, u32) {
    let mut best = spec.clone();
    let mut runs = 0;
    loop {
        let found = smaller(&best).into_iter().find(|candidate| {
            runs += 1;
            judge(candidate) == Some(invariant)
        });
        match found {
            Some(smaller) => best = smaller,
            None => return (best, runs),
        }
    }
}

/// Every one-step simplification of `spec`, simplest first.
fn smaller(spec: &SystemSpec) -> Vec<SystemSpec> {
    let mut out = Vec::new();
    for i in 0..spec.partitions.len() {
        let mut s = spec.clone();
        s.partitions.remove(i);
        out.push(s);
    }
    for i in 0..spec.holds.len() {
        let mut s = spec.clone();
        s.holds.remove(i);
        out.push(s);
    }
    for i in 0..spec.evictions.len() {
        let mut s = spec.clone();
        s.evictions.remove(i);
        out.push(s);
    }
    for i in 0..spec.town_stops.len() {
        let mut s = spec.clone();
        s.town_stops.remove(i);
        out.push(s);
    }
    if spec.connect_failures_per_mille > 0 {
        let mut s = spec.clone();
        s.connect_failures_per_mille = 0;
        out.push(s);
    }
    if spec.agents.len() > 1 {
        for i in 0..spec.agents.len() {
            let mut s = spec.clone();
            let (gone, _) = s.agents.remove(i);
            s.town_stops.retain(|(_, agent)| *agent != gone);
            out.push(s);
        }
    }
    for i in 0..11 {
        if *spec.faults.clone().rates_mut()[i] > 0 {
            let mut s = spec.clone();
            *s.faults.rates_mut()[i] = 0;
            out.push(s);
        }
    }
    for (i, &(from, until)) in spec.partitions.iter().enumerate() {
        if until - from > 50 {
            let mut s = spec.clone();
            s.partitions[i].1 = from + (until - from) / 2;
            out.push(s);
        }
    }
    for (i, &(from, until)) in spec.holds.iter().enumerate() {
        if until - from > 50 {
            let mut s = spec.clone();
            s.holds[i].1 = from + (until - from) / 2;
            out.push(s);
        }
    }
    out
}
