//! Which kinds of operation a generated workload draws (swarm testing), and `--ops` text.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

/// Which kinds of operation a generated workload uses besides plain starts (swarm testing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpMix {
    /// Starts aimed at an agent shortly after an earlier start of it.
    pub restarts: bool,
    /// Stops.
    pub stops: bool,
    /// Evictions.
    pub evicts: bool,
    /// Refreshes of every running agent's server.
    #[serde(default)]
    pub refreshes: bool,
    /// Configuration updates.
    #[serde(default)]
    pub updates: bool,
    /// Container reboots with hydration.
    #[serde(default)]
    pub reboots: bool,
    /// The subject's own operations (those [`Settings::custom`] lists).
    ///
    /// [`Settings::custom`]: crate::Settings::custom
    #[serde(default)]
    pub custom: bool,
}

impl OpMix {
    /// Start, restart, stop and evict: the operations every manager offers, and the default.
    pub fn all() -> Self {
        Self {
            restarts: true,
            stops: true,
            evicts: true,
            ..Self::starts()
        }
    }

    /// Plain starts only.
    pub fn starts() -> Self {
        Self {
            restarts: false,
            stops: false,
            evicts: false,
            refreshes: false,
            updates: false,
            reboots: false,
            custom: false,
        }
    }

    /// Every kind: [`OpMix::all`], refreshes, updates, reboots and the subject's own.
    pub fn every() -> Self {
        Self {
            refreshes: true,
            updates: true,
            reboots: true,
            custom: true,
            ..Self::all()
        }
    }

    /// Each of start's companions on or off, drawn from `d` (half and half); the subject's own
    /// operations are on, and drawn too when it has some (`custom`), so that a subject without
    /// them draws what it always drew.
    pub fn swarm(d: &mut Decisions, custom: bool) -> Self {
        let mut mix = Self {
            restarts: d.percent(50),
            stops: d.percent(50),
            evicts: d.percent(50),
            ..Self::starts()
        };
        mix.custom = custom && d.percent(75);
        mix
    }
}

impl std::str::FromStr for OpMix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Self::starts();
        for kind in text.split(',').map(str::trim) {
            match kind {
                "start" => {}
                "restart" => mix.restarts = true,
                "stop" => mix.stops = true,
                "evict" => mix.evicts = true,
                "refresh" => mix.refreshes = true,
                "update" => mix.updates = true,
                "reboot" => mix.reboots = true,
                "custom" => mix.custom = true,
                "all" => mix = Self::all(),
                "every" => mix = Self::every(),
                other => {
                    return Err(format!(
                        "`{other}` is not an operation kind (start, restart, stop, evict, \
                         refresh, update, reboot, custom, all, every)"
                    ));
                }
            }
        }
        Ok(mix)
    }
}

impl fmt::Display for OpMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("start")?;
        for (on, name) in [
            (self.restarts, "restart"),
            (self.stops, "stop"),
            (self.evicts, "evict"),
            (self.refreshes, "refresh"),
            (self.updates, "update"),
            (self.reboots, "reboot"),
            (self.custom, "custom"),
        ] {
            if on {
                write!(f, ", {name}")?;
            }
        }
        Ok(())
    }
}
