//! The plain backend's turns: a prompt blocks for its turn (its latency, or `turn_ms`), whose
//! end publishes `session.idle` (after a `session.error`, drawn); an abort cuts a turn in
//! flight short or lets it run afterwards (the world's `turn_ended`, `publish_end` and
//! `abort_effect`). A start's turn still under way when it has outlasted any request is
//! judged as the harness's L5 judges it: the agent must show `Running` by then.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{BackendError, ServerId, SessionEvent, SessionId, Status};
use lifecycle_models::ServerEvent;
use lifecycle_sim::scenario::workload::CallKind;
use lifecycle_sim::world::history::OpId;
use lifecycle_sim::{Invariant, Violation};
use rand::RngExt;

use super::{CutShort, Fault, PlainBackend, State, current_op, gone, lock};

impl PlainBackend {
    /// A prompt (the world's `Prompt` and `PromptOn`, through `via`'s client): it blocks for
    /// its turn, the call's latency, which an abort may cut short. At the turn's end
    /// `session.idle` goes out, before or after the reply (drawn), or with no reply at all.
    pub(crate) async fn prompt_call(
        &self,
        via: Option<ServerId>,
        session: SessionId,
    ) -> Result<(), BackendError> {
        let (fault, latency) = self.lock().draw(CallKind::Prompt);
        let me = self.clone();
        // A prompt that reaches the server (no hang, error or late effect) runs a turn; under
        // `turn_ms` it lasts that long, as the world's `turn_begins`.
        let turn_ms = self
            .lock()
            .turn_ms
            .filter(|_| matches!(fault, None | Some(Fault::LostSilently) | Some(Fault::Lie)));
        let latency = turn_ms.unwrap_or(latency);
        match fault {
            Some(Fault::Hang) => pending().await,
            Some(Fault::Late(by)) => {
                let (state, wait) = (self.state.clone(), self.lock().call_timeout);
                tokio::spawn(async move {
                    tokio::time::sleep(wait + Duration::from_millis(by)).await;
                    let mut state = lock(&state);
                    if state.prompt_lands(via, session, true).is_ok() {
                        state.turn_ended(session);
                    }
                });
                pending().await
            }
            _ => {
                let turn = Arc::new(CutShort::default());
                if fault != Some(Fault::Fail) {
                    self.lock().turns.push((session, turn.clone()));
                }
                if fault.is_none()
                    && turn_ms.is_some()
                    && let Some(op) = current_op()
                {
                    self.watch_turn(session, op, turn.clone());
                }
                let (reply, answer) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(latency)) => {}
                        _ = turn.wake.notified() => {}
                    }
                    let mut state = me.lock();
                    state.turns.retain(|(_, t)| !Arc::ptr_eq(t, &turn));
                    let answered = !reply.is_closed() && matches!(fault, None | Some(Fault::Lie));
                    // A turn an abort cut short answers 200 at once; the abort published its end.
                    let cut = turn.cut.load(std::sync::atomic::Ordering::Relaxed);
                    let outcome = match fault {
                        Some(Fault::Fail) => Err(BackendError::Failed("injected fault".into())),
                        _ if cut => Ok(()),
                        _ => state.prompt_lands(via, session, !answered),
                    };
                    let ran = fault != Some(Fault::Fail) && !cut && outcome.is_ok();
                    let answer = match fault {
                        Some(Fault::LostSilently) => None,
                        Some(Fault::Lie) => Some(Err(BackendError::Failed("reply lost".into()))),
                        _ => Some(outcome),
                    };
                    // The turn's end travels on the event stream, apart from the reply.
                    let events_first = ran && (!answered || state.rng.random_bool(0.5));
                    if events_first {
                        state.turn_ended(session);
                    }
                    drop(state);
                    let _ = reply.send(answer);
                    if ran && !events_first {
                        me.lock().turn_ended(session);
                    }
                });
                match answer.await {
                    Ok(Some(reply)) => reply,
                    Ok(None) => pending().await,
                    Err(_) => Err(BackendError::Failed("container gone".into())),
                }
            }
        }
    }
}

impl PlainBackend {
    /// L5, as the harness judges it (`sim/src/check/running.rs`): once the turn `op`'s prompt
    /// began on `session` has run longer than any request takes, if it is still under way and
    /// `op` is a start no other operation of its agent disturbed, the agent's record must be
    /// past `Starting`.
    fn watch_turn(&self, session: SessionId, op: OpId, turn: Arc<CutShort>) {
        let me = self.clone();
        let bound_ms = u64::from(self.lock().max_latency_ms);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(bound_ms + 1)).await;
            // Still under way, on a live session: whose agent's record is judged.
            let agent = {
                let state = me.lock();
                let under_way = state.turns.iter().any(|(_, t)| Arc::ptr_eq(t, &turn))
                    && !turn.cut.load(std::sync::atomic::Ordering::Relaxed);
                let live = state.ledger.session(session).filter(|s| s.live);
                match live {
                    Some(s) if under_way && !state.ended => s.agent.clone(),
                    _ => return,
                }
            };
            if !me.undisturbed_start.get().is_some_and(|f| f(op)) {
                return;
            }
            let Some(snapshot) = me.snapshot.get().and_then(|f| f()) else {
                return;
            };
            let record = snapshot.agents.iter().find(|r| r.agent == agent);
            if record.is_some_and(|r| r.status != Status::Starting) {
                return;
            }
            let status = record.map_or("absent".to_string(), |r| format!("{:?}", r.status));
            me.saw(Violation::new(
                Invariant::L5,
                format!(
                    "op#{op} start {agent}: its prompt of {session} has run a turn for more than the {bound_ms} ms a request takes, but the record is {status}"
                ),
                vec![session],
            ));
        });
    }
}

impl State {
    /// A prompt's effect at the server: a turn runs on any session of a running server, an
    /// aborted one too, which is live again (and ambiguous if nobody heard the reply). Through
    /// another server's client, a session it does not know answers 200 with an empty body,
    /// which the SDK returns: nothing runs.
    pub(super) fn prompt_lands(
        &mut self,
        via: Option<ServerId>,
        session: SessionId,
        unanswered: bool,
    ) -> Result<(), BackendError> {
        if let Some(server) = via {
            if self.ledger.server(server).is_some_and(|s| !s.open) {
                return Err(gone(format!("{server} is not running")));
            }
            if self
                .ledger
                .session(session)
                .is_none_or(|s| s.server != server)
            {
                return Err(BackendError::Failed(format!(
                    "{session} unknown on {server}: 200 with an empty body"
                )));
            }
        }
        let Some(s) = self.ledger.session(session) else {
            return Err(gone(format!("{session}'s server is gone")));
        };
        if !self.ledger.server(s.server).is_some_and(|srv| srv.open) {
            return Err(gone(format!("{session}'s server is gone")));
        }
        if !s.live {
            self.ledger.revive_session(session);
            if unanswered && let Some(s) = self.ledger.session_mut(session) {
                s.ambiguous = true;
            }
        }
        Ok(())
    }

    /// A turn of `session` ended (the world's `turn_ended`): `session.error` first when the
    /// turn ended in a provider error (`error-events`), then `session.idle`; the session
    /// persists either way.
    pub(super) fn turn_ended(&mut self, session: SessionId) {
        let f = self.faults_now();
        let error = f.error_events > 0 && self.rng.random_range(0..100) < f.error_events;
        self.publish_end(session, error);
    }

    /// Publishes the end of `session`'s run on its own streams and its server's.
    fn publish_end(&mut self, id: SessionId, error: bool) {
        let Some(s) = self.ledger.session(id) else {
            return;
        };
        let (server, streams) = (s.server, s.events.clone());
        if error {
            for events in &streams {
                let _ = events.send(SessionEvent::Error);
            }
            self.broadcast(server, ServerEvent::Error(id));
        }
        for events in &streams {
            let _ = events.send(SessionEvent::Idle);
        }
        self.broadcast(server, ServerEvent::Idle(id));
    }

    /// An abort lands on `session` (the world's `abort_effect`): each prompt of it in flight
    /// either had reached the server, and its turn is cut short (it answers at once), or had
    /// not, and runs afterwards (drawn). The session ends, its own streams with it, and the
    /// server publishes the run's end: `session.error` if a turn was cut, then `session.idle`.
    pub(super) fn abort_effect(&mut self, session: SessionId) {
        let mut cut = false;
        let turns: Vec<Arc<CutShort>> = self
            .turns
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, t)| t.clone())
            .collect();
        for turn in turns {
            if !turn.cut.load(std::sync::atomic::Ordering::Relaxed) && self.rng.random_bool(0.5) {
                turn.cut.store(true, std::sync::atomic::Ordering::Relaxed);
                turn.wake.notify_one();
                cut = true;
            }
        }
        self.ledger.kill_session(session);
        self.publish_end(session, cut);
    }
}
