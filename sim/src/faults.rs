//! Which faults a scenario injects, and how often. Each seed draws its own mix (swarm
//! testing): a run with fewer fault kinds on reaches states that a run with all of them on
//! keeps interrupting.

use std::fmt;

use crate::decisions::Decisions;

/// Percent chances, per backend call, of each fault family; 0 means off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// `create_session` answers with an error.
    pub create_fails: u32,
    /// `prompt` answers with an error.
    pub prompt_fails: u32,
    /// Any call never answers (until the caller's timeout).
    pub hangs: u32,
}

impl FaultConfig {
    pub fn none() -> Self {
        Self::default()
    }

    /// Every family on.
    pub fn all() -> Self {
        Self {
            create_fails: 10,
            prompt_fails: 10,
            hangs: 5,
        }
    }

    /// A random subset of the families, each at its usual rate.
    pub fn swarm(d: &mut Decisions) -> Self {
        let all = Self::all();
        let mut pick = |rate| if d.percent(50) { rate } else { 0 };
        Self {
            create_fails: pick(all.create_fails),
            prompt_fails: pick(all.prompt_fails),
            hangs: pick(all.hangs),
        }
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<String> = [
            ("create-fails", self.create_fails),
            ("prompt-fails", self.prompt_fails),
            ("hangs", self.hangs),
        ]
        .iter()
        .filter(|(_, rate)| *rate > 0)
        .map(|(name, rate)| format!("{name} {rate}%"))
        .collect();
        if on.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&on.join(", "))
        }
    }
}
