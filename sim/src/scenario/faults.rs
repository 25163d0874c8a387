//! Which faults a scenario injects, and how often. Each seed draws its own mix (swarm
//! testing): a run with fewer fault kinds on reaches states that a run with all of them on
//! keeps interrupting.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

/// Percent chances, per backend call (or per prompted session for events), of each fault
/// family; 0 means off. `server_crashes` is a count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultConfig {
    /// Any call answers with an error and has no effect.
    pub call_errors: u32,
    /// Lost request: any call never reaches the server (no effect) and never answers; the
    /// caller's timeout ends it.
    pub hangs: u32,
    /// `create_session` creates the session but answers with an error (a lost reply, on
    /// creates only; `lost_replies` has it for every call).
    pub create_lies: u32,
    /// `abort_session` answers with an error and the session lives on.
    pub abort_fails: u32,
    /// How many times a running server crashes during the scenario (its sessions die, their
    /// event streams end).
    pub server_crashes: u32,
    /// A prompted session goes idle a little later.
    pub idle_events: u32,
    /// A prompted session reports an error and dies a little later.
    pub error_events: u32,
    /// Lost reply: any call takes effect at the server, but its answer is lost: the caller sees
    /// an error, or nothing until its timeout (drawn per call).
    #[serde(default)]
    pub lost_replies: u32,
    /// Late effect: any call takes effect after its caller's timeout fired (1-40 ms later) and
    /// never answers: the caller gave up on a request the server still carries out.
    #[serde(default)]
    pub late_effects: u32,
    /// Dropped operation: the control plane's caller goes away 1-60 ms after issuing an
    /// operation, and the container drops the operation's future at whatever await it is
    /// parked on (as an HTTP server drops a handler whose client left). Only for managers whose
    /// operations can be dropped: a JS handler runs to its end whatever its client does, so the
    /// historical models are never dropped.
    #[serde(default)]
    pub drops: u32,
    /// When a server dies, each of its server-wide event streams (the historical models')
    /// throws, as older SDKs did, instead of retrying for ever in silence (SDK 7.2.14).
    #[serde(default)]
    pub stream_errors: u32,
}

/// The families, for printing and for picking subsets.
const FAMILIES: [(&str, u32); 11] = [
    ("call-errors", 8),
    ("hangs", 4),
    ("create-lies", 15),
    ("abort-fails", 15),
    ("server-crashes", 1),
    ("idle-events", 40),
    ("error-events", 15),
    ("stream-errors", 50),
    ("lost-replies", 8),
    ("late-effects", 4),
    ("drops", 5),
];

impl FaultConfig {
    pub fn none() -> Self {
        Self::default()
    }

    /// Every family on, at its usual rate.
    pub fn all() -> Self {
        Self::from_rates(FAMILIES.map(|(_, rate)| rate))
    }

    /// A random subset of the families, each at its usual rate.
    pub fn swarm(d: &mut Decisions) -> Self {
        Self::from_rates(FAMILIES.map(|(_, rate)| if d.percent(50) { rate } else { 0 }))
    }

    fn from_rates(rates: [u32; 11]) -> Self {
        let mut faults = Self::default();
        for (slot, rate) in faults.rates_mut().into_iter().zip(rates) {
            *slot = rate;
        }
        faults
    }

    /// How many fault families there are.
    pub const FAMILIES: usize = FAMILIES.len();

    /// Each family's rate, in the order of `FAMILIES`.
    pub fn rates_mut(&mut self) -> [&mut u32; 11] {
        [
            &mut self.call_errors,
            &mut self.hangs,
            &mut self.create_lies,
            &mut self.abort_fails,
            &mut self.server_crashes,
            &mut self.idle_events,
            &mut self.error_events,
            &mut self.stream_errors,
            &mut self.lost_replies,
            &mut self.late_effects,
            &mut self.drops,
        ]
    }

    fn rates(&self) -> [u32; 11] {
        let mut copy = *self;
        copy.rates_mut().map(|rate| *rate)
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<String> = FAMILIES
            .iter()
            .zip(self.rates())
            .filter(|(_, rate)| *rate > 0)
            .map(|((name, _), rate)| match *name {
                "server-crashes" => format!("{name} x{rate}"),
                _ => format!("{name} {rate}%"),
            })
            .collect();
        if on.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&on.join(", "))
        }
    }
}
