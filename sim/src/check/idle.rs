//! L3 (idle exit): an idle agent exits. With the faults off, an agent whose session's turn
//! ended and whose idle event went out on a stream the manager held open (its own session
//! stream, or its server's), and that stayed idle (no prompt reached the session since) with
//! no operation of the agent in flight, for its idle timeout plus one call timeout (room for
//! the exit's few calls, each answered within the latency bound with the faults off), has
//! exited: no live session of it, and its record terminal or absent. A manager that never arms
//! its idle timer, never acts on it, or lets something that is not the agent's work (the
//! server's heartbeats) put it off for ever, holds on to the agent and its server.
//!
//! The premise is the faults being off when the idle event went out (a fault-free scenario,
//! or after the faults healed), on a stream the manager held open then: then it is delivered,
//! and every call of the exit answers. An idle event published before the manager's
//! subscription was open (a turn that ended before `subscribe` answered) is not heard, and
//! its session is not judged. The session must stay live: one that died (aborted, which
//! publishes `session.idle` too, or its server gone) is no longer timed.

use agent_lifecycle::{AgentId, SessionId};

use super::watch::{Issue, Watch};
use super::{Invariant, View, Violation, concerns};
use crate::scenario::spec::Timing;

/// An idle session being timed.
struct Idle {
    session: SessionId,
    agent: AgentId,
    /// When its idle event went out.
    at_ms: u64,
    /// Since when it was idle with no operation of its agent in flight (`None`: one still is).
    quiet_since: Option<u64>,
}

/// L3's memory: where it left off in the ledger's idle events, and the idle sessions timed.
pub(super) struct IdleExit {
    /// Idle timeout plus slack.
    within_ms: u64,
    idle_timeout_ms: u64,
    next_idle: usize,
    timed: Vec<Idle>,
}

impl IdleExit {
    pub(super) fn new(timing: &Timing) -> Self {
        Self {
            within_ms: timing.idle_timeout_ms + timing.call_timeout_ms,
            idle_timeout_ms: timing.idle_timeout_ms,
            next_idle: 0,
            timed: Vec::new(),
        }
    }
}

impl Watch for IdleExit {
    /// An operation of the agent: it is not left idle; its next idle event times it again.
    fn on_issue(&mut self, issue: &Issue<'_>) {
        self.timed.retain(|t| !concerns(issue.kind, &t.agent));
    }

    /// Everything died with the container.
    fn on_bounce(&mut self) {
        self.timed.clear();
    }

    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        let ledger = view.ledger;
        let new = ledger.idles.get(self.next_idle..).unwrap_or_default();
        self.next_idle = ledger.idles.len();
        for &(session, at_ms) in new {
            let Some(s) = ledger.session(session) else {
                continue;
            };
            // Only with the faults off: the premise.
            if s.idle_since == Some((at_ms, true)) {
                self.timed.retain(|t| t.session != session);
                self.timed.push(Idle {
                    session,
                    agent: s.agent.clone(),
                    at_ms,
                    quiet_since: None,
                });
            }
        }
        let now = view.now_ms;
        // A prompt that reached the session since: it is working, not idle. A session that
        // died is no longer idle either (an abort publishes `session.idle` too): its death is
        // L6's to judge, and the agent's next session is timed by its own idle event.
        self.timed.retain(|t| {
            ledger
                .session(t.session)
                .is_some_and(|s| s.live && s.idle_since.is_some_and(|(at, _)| at == t.at_ms))
        });
        let mut verdict = Ok(());
        self.timed.retain_mut(|t| {
            if verdict.is_err() {
                return true;
            }
            let busy = view.in_flight.values().any(|&k| concerns(k, &t.agent));
            if busy {
                t.quiet_since = None;
                return true;
            }
            let since = *t.quiet_since.get_or_insert(now.max(t.at_ms));
            if now < since + self.within_ms {
                return true;
            }
            let live: Vec<SessionId> = ledger
                .live_sessions()
                .filter(|s| s.agent == t.agent)
                .map(|s| s.id)
                .collect();
            let record = view.snapshot.agents.iter().find(|r| r.agent == t.agent);
            let holding = record.filter(|r| !r.status.is_terminal());
            if live.is_empty() && holding.is_none() {
                return false;
            }
            let mut held = Vec::new();
            if let Some(r) = holding {
                held.push(format!("its record is {:?}", r.status));
            }
            if !live.is_empty() {
                let list: Vec<String> = live.iter().map(|s| s.to_string()).collect();
                held.push(format!("{} live", list.join(", ")));
            }
            verdict = Err(Violation::new(
                Invariant::L3,
                format!(
                    "{} went idle at {} ms ({} idle since, faults off) and nothing of {} was in flight for {} ms (idle timeout {} ms plus a call timeout), yet it has not exited: {}",
                    t.agent,
                    t.at_ms,
                    t.session,
                    t.agent,
                    now - since,
                    self.idle_timeout_ms,
                    held.join(", ")
                ),
                live,
            ));
            true
        });
        verdict
    }
}
