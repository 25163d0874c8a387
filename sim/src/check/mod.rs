//! The invariants: each one's code and definition (`docs/invariants.md` says the same in
//! prose), the checks of those judged on a view alone (I1-I4, here), and the registry of the
//! [`Watch`]es that judge the rest as the run's events arrive, each in a file of its own. The
//! [`Checker`] runs them all, in every world.
//!
//! Adding an invariant judged on every view changes this file only: a variant, its title, its
//! check, one line in [`check_step`]. One with a memory, or judged at an event, is a file of
//! its own with a `Watch`, plus its variant, its `mod` line and one line in `watches` here.

mod cancelled;
mod cause;
mod checker;
mod close;
mod drain;
mod evicted;
mod idle;
mod liveness;
mod progress;
mod running;
mod settle;
mod statement;
mod status;
mod stop;
mod user;
mod view;
mod watch;

pub use cancelled::check_cancelled_start;
pub use checker::Checker;
pub use close::check_close;
pub use evicted::check_evicted;
pub use liveness::{stalled_after_return, stalled_in_flight};
pub use settle::{check_all_stopped, check_settled};
pub use stop::check_side_state;
pub use user::UserInvariant;
pub use view::{View, Violation};
pub use watch::{Issue, Return, Watch};

use view::{Claims, describe, describe_all};

use std::collections::BTreeMap;
use std::fmt;

use agent_lifecycle::{AgentId, ServerId};

use crate::scenario::spec::Timing;
use crate::scenario::workload::OpKind;
use crate::world::ledger::SessionRecord;

/// An invariant, by its code. `docs/invariants.md` says the same in prose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Invariant {
    /// Tracked == live: every live session is a live record's session, belongs to a start
    /// still in flight, or (per step only) is excused by a live record's own `suspect_on`
    /// mark; once settled, every live session is exactly a live record's session and every
    /// tracked session is live; after the final stop nothing is live.
    I1,
    /// One per agent: at most one live session per agent, from the backend's ledger
    /// (sessions of starts in flight are judged when those return).
    I2,
    /// Reference counts: no count is negative; with nothing in flight a server counts exactly
    /// the sessions tracked on it; a server is never closed under a Starting or Running
    /// record's session; once settled every running server is one the manager knows; after
    /// the final stop nothing is counted and no server runs.
    I3,
    /// Release exactly once: a server never counts fewer than the live sessions tracked on it.
    I4,
    /// Stop is terminal: once stop(a) returns, no session of a from an operation issued
    /// before it is live; and side state: an armed idle timer is the live record's own, a
    /// stop reaches the running event stream, an ended record's stream no longer runs, and no
    /// timer of a stopped incarnation is armed again.
    I5,
    /// Cancellation wins: a start that returns cancelled leaves no session behind.
    I6,
    /// Eviction leaves nothing: when evict returns Ok, no live session, no running server and
    /// no earlier start in flight; when it returns Err, nothing untracked and no earlier start
    /// in flight.
    I7,
    /// Status moves forward only: Starting, Running, Stopping, Exited or Failed, per record.
    I8,
    /// Liveness: every operation returns within the bound, and background work ends once the
    /// faults heal.
    L1,
    /// Progress: with the faults off, a start nothing superseded ends Running and a stop
    /// leaves its agent Exited with nothing live.
    L2,
    /// Idle exit: with the faults off, an agent whose session's idle event went out on a
    /// stream the manager held open, and that stayed idle with no operation of the agent in
    /// flight for its idle timeout plus one call timeout, has exited: no live session of it,
    /// its record terminal or absent.
    L3,
    /// Drain within grace: an eviction returns within the drain grace
    /// ([`Timing::drain_grace`](crate::Timing::drain_grace)).
    L4,
    /// Running before the turn ends: a start whose initial prompt reached the server, and
    /// whose turn has been under way longer than the latency bound with nothing else of its
    /// agent in flight, shows its record Running while the prompt is still out.
    L5,
    /// Nothing ends without a cause: a Running record's session ends only through a call of
    /// its own agent's stop, start or update, a refresh, an eviction or a reboot, of the
    /// manager's background work once it went idle or errored (an idle exit, a death), or a
    /// crash or the container's death.
    L6,
    /// A task of the container (the manager's, or one it spawned) panicked.
    Panic,
    /// An invariant of the subject's own ([`UserInvariant`]), by its name.
    User(&'static str),
    /// System (town and container over the network): never two live sessions of one agent
    /// at the same instant, anywhere.
    S1,
    /// System, after convergence: every agent the town believes working has exactly one live
    /// session and was heard from (a heartbeat) within the liveness bound, and no live session
    /// belongs to an agent the town believes idle or done.
    S2,
    /// System: no duplicate dispatch: a dispatch the town wrote off as failed, and followed
    /// with another, never took effect in the container.
    S3,
    /// System: no resurrection: boot hydration after an eviction never starts an agent whose
    /// stop the container acknowledged to the town.
    S4,
}

impl Invariant {
    /// Every built-in invariant.
    pub const ALL: [Invariant; 19] = [
        Self::I1,
        Self::I2,
        Self::I3,
        Self::I4,
        Self::I5,
        Self::I6,
        Self::I7,
        Self::I8,
        Self::L1,
        Self::L2,
        Self::L3,
        Self::L4,
        Self::L5,
        Self::L6,
        Self::Panic,
        Self::S1,
        Self::S2,
        Self::S3,
        Self::S4,
    ];

    /// Its short title.
    pub fn title(self) -> &'static str {
        match self {
            Self::I1 => "tracked == live",
            Self::I2 => "one per agent",
            Self::I3 => "reference counts",
            Self::I4 => "release exactly once",
            Self::I5 => "stop is terminal",
            Self::I6 => "cancellation wins",
            Self::I7 => "eviction leaves nothing",
            Self::I8 => "status moves forward only",
            Self::L1 => "liveness",
            Self::L2 => "progress",
            Self::L3 => "idle exit",
            Self::L4 => "drain within grace",
            Self::L5 => "running before the turn ends",
            Self::L6 => "nothing ends without a cause",
            Self::Panic => "a task panicked",
            Self::User(_) => "the subject's own invariant",
            Self::S1 => "one live session per agent, system-wide",
            Self::S2 => "town and container agree",
            Self::S3 => "no duplicate dispatch",
            Self::S4 => "no resurrection after a stop",
        }
    }

    /// The short name reports, case files and `--invariant` use: `I1`..`I8`, `L1`, `L2`,
    /// `panic`, or a user invariant's own name.
    pub fn code(self) -> String {
        match self {
            Self::Panic => "panic".to_string(),
            Self::User(name) => name.to_string(),
            _ => format!("{self:?}"),
        }
    }

    /// The Rust name of the variant (`Invariant::Panic`), for generated code.
    pub fn variant(self) -> String {
        format!("{self:?}")
    }

    /// A built-in invariant by its code (user invariants are found by their subject).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.code().eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.title())
    }
}

/// The watches every run is judged by, in the order they judge a view: the safety invariants
/// first, the subject's own next, and L2 last (a leak that also stalls progress is reported as
/// what it is).
fn watches(user: Vec<UserInvariant>, timing: &Timing) -> Vec<Box<dyn Watch>> {
    vec![
        Box::new(close::ClosedUnderSession),
        Box::new(stop::StopIsTerminal::default()),
        Box::new(cancelled::CancelledLeavesNothing),
        Box::new(evicted::EvictionLeavesNothing),
        Box::new(user::Users(user)),
        Box::new(status::StatusWatch::default()),
        Box::new(cause::EndsWithCause::default()),
        Box::new(progress::Progress::default()),
        Box::new(running::RunningBeforeTurnEnds::new(timing)),
        Box::new(drain::DrainWithinGrace::new(timing)),
        Box::new(idle::IdleExit::new(timing)),
    ]
}

/// The invariants judged on a view alone, in order: I1, I2, I3 and I4.
pub fn check_step(v: &View) -> Result<(), Violation> {
    let claims = Claims::of(v.snapshot);
    tracked_is_live(v, &claims)?;
    one_per_agent(v)?;
    reference_counts(v, &claims)
}

/// I1: every live session is tracked (or owned by a start in flight). The other way round, a
/// tracked session that died (its server crashed, say) is stale, not leaked: the manager may
/// learn of it late, and the end-of-scenario check holds it to account.
fn tracked_is_live(v: &View, claims: &Claims) -> Result<(), Violation> {
    for s in v.ledger.live_sessions() {
        if !claims.tracks(s) && !v.owned_by_call(s) {
            let returned = s
                .creator
                .map(|op| format!(" and op#{op} has returned"))
                .unwrap_or_default();
            return Err(Violation::new(
                Invariant::I1,
                format!("{} is live, but no record tracks it{returned}", describe(s)),
                vec![s.id],
            ));
        }
    }
    Ok(())
}

/// I2: one live session per agent, from the ledger. Sessions of starts still in flight are
/// judged when those return (a cancelled startup may still be cleaning up).
///
/// There is no "one live record per agent" check: the snapshot is built from the manager's
/// map keyed by agent, so it cannot hold two records of one agent and such a check could
/// never fire. A record the map no longer holds is invisible; if its session is still live,
/// I1 (nothing tracks it) or the session half of I2 (two live sessions of one agent) catch it.
fn one_per_agent(v: &View) -> Result<(), Violation> {
    let mut per_agent: BTreeMap<&AgentId, Vec<&SessionRecord>> = BTreeMap::new();
    for s in v.ledger.live_sessions().filter(|s| !v.owned_by_call(s)) {
        per_agent.entry(&s.agent).or_default().push(s);
    }
    match per_agent.into_iter().find(|(_, live)| live.len() > 1) {
        Some((agent, live)) => Err(Violation::new(
            Invariant::I2,
            format!(
                "agent {agent} has {} live sessions: {}",
                live.len(),
                describe_all(&live)
            ),
            live.iter().map(|s| s.id).collect(),
        )),
        None => Ok(()),
    }
}

/// I3 and I4: a server's count is never negative, never below the live sessions tracked on
/// it (that takes a release too many), and at quiescence exactly what is tracked on it.
fn reference_counts(v: &View, claims: &Claims) -> Result<(), Violation> {
    let mut counts: BTreeMap<ServerId, i64> = BTreeMap::new();
    for entry in &v.snapshot.servers {
        *counts.entry(entry.server).or_default() += entry.count;
        // Can fire: the historical models keep signed counts, as the real code does, and a
        // release too many takes them below zero.
        if entry.count < 0 {
            return Err(Violation::new(
                Invariant::I3,
                format!(
                    "{} (workdir {}) has count {}",
                    entry.server, entry.workdir, entry.count
                ),
                Vec::new(),
            ));
        }
    }
    let mut tracked_on: BTreeMap<ServerId, Vec<&SessionRecord>> = BTreeMap::new();
    for (id, _) in &claims.tracked {
        if let Some(s) = v.ledger.session(*id).filter(|s| s.live) {
            tracked_on.entry(s.server).or_default().push(s);
        }
    }
    for (server, sessions) in &tracked_on {
        let count = counts.get(server).copied().unwrap_or(0);
        if count < sessions.len() as i64 {
            return Err(Violation::new(
                Invariant::I4,
                format!(
                    "{server} counts {count}, but {} live tracked session(s) run on it: {}; a release happened twice or too early",
                    sessions.len(),
                    describe_all(sessions)
                ),
                sessions.iter().map(|s| s.id).collect(),
            ));
        }
    }
    if v.quiescent {
        let suspects = &claims.suspects;
        let mut tracked_any: BTreeMap<ServerId, usize> = BTreeMap::new();
        for (id, _) in &claims.tracked {
            if let Some(s) = v.ledger.session(*id) {
                *tracked_any.entry(s.server).or_default() += 1;
            }
        }
        for (&server, &count) in &counts {
            let tracked = tracked_any.get(&server).copied().unwrap_or(0);
            let suspected = suspects.iter().filter(|(_, s)| *s == server).count();
            let expected = (tracked + suspected) as i64;
            if count != expected {
                return Err(Violation::new(
                    Invariant::I3,
                    format!(
                        "with nothing in flight, {server} counts {count} but {expected} session(s) are tracked on it"
                    ),
                    Vec::new(),
                ));
            }
        }
    }
    Ok(())
}

/// Whether an operation of `kind` concerns `agent`: one of its own (a start, stop, update or
/// custom operation of it), or one of every agent (an eviction, a refresh, a reboot, a custom
/// operation of no agent in particular). L3, L5 and L6 read it.
pub(super) fn concerns(kind: OpKind, agent: &AgentId) -> bool {
    match kind.agent() {
        Some(ix) => crate::scenario::names::agent_id(ix) == *agent,
        None => true,
    }
}
