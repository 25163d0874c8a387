//! Which faults a scenario injects, and how often. Each seed draws its own mix (swarm
//! testing): a run with fewer fault kinds on reaches states that a run with all of them on
//! keeps interrupting.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

/// Percent chances, per backend call (or per turn for `error_events`), of each fault family;
/// 0 means off. `server_crashes` is a count.
///
/// Every family stands for something a real `kilo serve`, `@kilocode/sdk` or network can do
/// (`docs/real-system.md` names the measurement or code behind each). Two are off unless
/// asked for by name: `stream_errors` has no basis in any SDK the real code pinned, and
/// `launcher_close` is real but makes every close leak, which would hide every other finding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultConfig {
    /// Any call answers with an error and has no effect (the server answers 500 before
    /// acting: a broken or locked `kilo.db` fails every request that touches it).
    pub call_errors: u32,
    /// Lost request: any call never reaches the server (no effect) and never answers; the
    /// caller's timeout ends it (a connection that stalls; a first request sent before the
    /// server is ready hangs for minutes on 7.7.9).
    pub hangs: u32,
    /// `create_session` creates the session but answers with an error (a lost reply, on
    /// creates only; `lost_replies` has it for every call). The server commits the session
    /// before a later step throws, or dies between commit and reply.
    pub create_lies: u32,
    /// `abort_session` answers with an error and the session lives on (the server cannot be
    /// reached: the SDK throws).
    pub abort_fails: u32,
    /// How many times a running server crashes during the scenario (SIGKILL, OOM: its sessions
    /// stop; its event streams go silent, as the SDK retries for ever).
    pub server_crashes: u32,
    /// Retired: every turn now ends with `session.idle`, as the real server's does. Read from
    /// old case files and ignored.
    #[serde(default, skip_serializing)]
    pub idle_events: u32,
    /// A turn ends in a provider error: `session.error`, then `session.idle`; the session
    /// persists (a non-retryable provider answer or a malformed model stream).
    pub error_events: u32,
    /// Lost reply: any call takes effect at the server, but its answer is lost: the caller sees
    /// an error, or nothing until its timeout (drawn per call): a connection reset after the
    /// server acted.
    #[serde(default)]
    pub lost_replies: u32,
    /// Late effect: any call takes effect after its caller's timeout fired (1-40 ms later) and
    /// never answers: the caller gave up on a request the server still carries out (a spawn
    /// that times out whose server listens later; a slow create).
    #[serde(default)]
    pub late_effects: u32,
    /// Dropped operation: the control plane's caller goes away 1-60 ms after issuing an
    /// operation, and the container drops the operation's future at whatever await it is
    /// parked on (as an HTTP server drops a handler whose client left). Only for managers whose
    /// operations can be dropped: a JS handler runs to its end whatever its client does, so the
    /// historical models are never dropped.
    #[serde(default)]
    pub drops: u32,
    /// Hypothetical, off unless named: when a server dies, each of its server-wide event
    /// streams (the historical models') throws. No SDK from 1.0.25 to 7.3.1 does: their SSE
    /// client retries a dead server for ever, silently.
    #[serde(default)]
    pub stream_errors: u32,
    /// Off unless named: `server.close()` (the historical models') kills only the `kilo` node
    /// launcher of the gastown image; the native server keeps running with its sessions.
    /// Measured with the 7.0.33 launcher and SDK 7.2.14; 7.3.1's launcher is the same code.
    #[serde(default)]
    pub launcher_close: u32,
}

/// Whether `all` and swarm runs include a family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    Default,
    /// Named only: `--also NAME`.
    OptIn,
    /// Kept for old case files; never on.
    Retired,
}

/// One fault family: its name (`--also NAME`, reports), its usual rate, whether `all` and
/// swarm runs include it, and what a finding resting on it must say it rests on (for the
/// families whose basis a reader must weigh).
struct Family {
    name: &'static str,
    rate: u32,
    reach: Reach,
    premise: Option<&'static str>,
}

const fn family(name: &'static str, rate: u32, reach: Reach) -> Family {
    Family {
        name,
        rate,
        reach,
        premise: None,
    }
}

/// The families, for printing and for picking subsets, in field order (`rates_mut`). Adding a
/// family is its field, its line here and in `rates_mut`, and the world's code that injects
/// it.
const FAMILIES: [Family; FAMILY_COUNT] = [
    family("call-errors", 8, Reach::Default),
    family("hangs", 4, Reach::Default),
    family("create-lies", 15, Reach::Default),
    family("abort-fails", 15, Reach::Default),
    family("server-crashes", 1, Reach::Default),
    family("idle-events", 0, Reach::Retired),
    family("error-events", 15, Reach::Default),
    Family {
        premise: Some(
            "hypothetical: a dead server's event stream throws (no SDK from 1.0.25 to 7.3.1 does)",
        ),
        ..family("stream-errors", 50, Reach::OptIn)
    },
    family("lost-replies", 8, Reach::Default),
    family("late-effects", 4, Reach::Default),
    family("drops", 5, Reach::Default),
    Family {
        premise: Some(
            "the gastown image's launcher: server.close() kills only the node launcher (measured with 7.0.33's)",
        ),
        ..family("launcher-close", 100, Reach::OptIn)
    },
];

const FAMILY_COUNT: usize = 12;

impl FaultConfig {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every family with a basis in the real server, SDK or network on, at its usual rate.
    pub fn all() -> Self {
        Self::from_rates(FAMILIES.map(|f| if f.reach == Reach::Default { f.rate } else { 0 }))
    }

    /// A random subset of the default families, each at its usual rate.
    pub fn swarm(d: &mut Decisions) -> Self {
        Self::from_rates(FAMILIES.map(|f| {
            if f.reach == Reach::Default && d.percent(50) {
                f.rate
            } else {
                0
            }
        }))
    }

    /// The opt-in families' names.
    pub fn opt_in_names() -> Vec<&'static str> {
        FAMILIES
            .iter()
            .filter(|f| f.reach == Reach::OptIn)
            .map(|f| f.name)
            .collect()
    }

    /// Switches on the opt-in family `name` at its usual rate.
    pub fn with_opt_in(mut self, name: &str) -> Result<Self, String> {
        let Some(at) = FAMILIES
            .iter()
            .position(|f| f.name == name && f.reach == Reach::OptIn)
        else {
            return Err(format!(
                "`{name}` is not an opt-in fault family (one of: {})",
                Self::opt_in_names().join(", ")
            ));
        };
        *self.rates_mut()[at] = FAMILIES[at].rate;
        Ok(self)
    }

    /// Each family at the higher of its two rates.
    pub fn with(mut self, other: Self) -> Self {
        let mut other = other;
        for (mine, theirs) in self.rates_mut().into_iter().zip(other.rates_mut()) {
            *mine = (*mine).max(*theirs);
        }
        self
    }

    fn from_rates(rates: [u32; FAMILY_COUNT]) -> Self {
        let mut faults = Self::default();
        for (slot, rate) in faults.rates_mut().into_iter().zip(rates) {
            *slot = rate;
        }
        faults
    }

    /// How many fault families there are.
    pub const FAMILIES: usize = FAMILIES.len();

    /// Each family's rate, in the order of `FAMILIES`.
    pub fn rates_mut(&mut self) -> [&mut u32; FAMILY_COUNT] {
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
            &mut self.launcher_close,
        ]
    }

    /// What the findings of a run with these faults rest on, from the families switched on.
    pub fn premises(&self) -> Vec<&'static str> {
        FAMILIES
            .iter()
            .zip(self.rates())
            .filter(|(_, rate)| *rate > 0)
            .filter_map(|(f, _)| f.premise)
            .collect()
    }

    fn rates(&self) -> [u32; FAMILY_COUNT] {
        let mut copy = *self;
        copy.rates_mut().map(|rate| *rate)
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<String> = FAMILIES
            .iter()
            .zip(self.rates())
            .filter(|(f, rate)| *rate > 0 && f.reach != Reach::Retired)
            .map(|(f, rate)| match f.name {
                "server-crashes" => format!("{} x{rate}", f.name),
                "stream-errors" => format!("{} {rate}% (hypothetical)", f.name),
                name => format!("{name} {rate}%"),
            })
            .collect();
        if on.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&on.join(", "))
        }
    }
}
