//! The shuttle backend's turns: a prompt's turn is a scheduling point an abort may cut short;
//! its end publishes `session.idle` (after a `session.error`, drawn), before or after the reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shuttle::rand::Rng as _;
use shuttle_agent_lifecycle::{BackendError, ServerId, SessionEvent, SessionId};
use shuttle_lifecycle_models::ServerEvent;

use super::{Backend, Ledger, gone, percent};

impl Backend {
    /// The end of `session`'s run, queued: `session.error` first if `error`, then
    /// `session.idle`, on its own streams and its server's. The session persists.
    fn publish_end(&self, ledger: &mut Ledger, session: SessionId, error: bool) {
        let Some(s) = ledger.sessions.get(session.0 as usize - 1) else {
            return;
        };
        let (server, streams) = (s.1, s.3.clone());
        let server_streams = ledger.servers[server.0 as usize - 1].2.clone();
        let mut events = Vec::new();
        if error {
            events.push((SessionEvent::Error, ServerEvent::Error(session)));
        }
        events.push((SessionEvent::Idle, ServerEvent::Idle(session)));
        for (event, server_event) in events {
            for stream in &streams {
                ledger.session_outbox.push((stream.clone(), event));
            }
            for stream in &server_streams {
                ledger.outbox.push((stream.clone(), Ok(server_event)));
            }
        }
    }

    /// An abort lands on a session of a running server: each prompt of it in flight is cut
    /// short (it answers at once) or, drawn, had not enqueued and runs afterwards. The session
    /// ends, its own streams with it, and the run's end is published (an error if cut).
    pub(super) fn abort_effect(&self, ledger: &mut Ledger, session: SessionId) {
        let mut cut = false;
        for (s, flag) in &ledger.turns {
            if *s == session
                && !flag.load(Ordering::Relaxed)
                && shuttle::rand::thread_rng().gen_bool(0.5)
            {
                flag.store(true, Ordering::Relaxed);
                cut = true;
            }
        }
        if let Some(s) = ledger.sessions.get_mut(session.0 as usize - 1) {
            s.2 = false;
            let mut streams = std::mem::take(&mut s.3);
            ledger.ended.append(&mut streams);
        }
        self.publish_end(ledger, session, cut);
    }

    /// A prompt: it blocks for its turn (a scheduling point), which an abort may cut short;
    /// a turn runs on any session of a running server, an aborted one too (live again), and
    /// ends with `session.idle` (after a `session.error`, with `error-events`), published
    /// before or after the reply.
    pub(super) async fn prompt_via(
        &self,
        via: Option<ServerId>,
        session: SessionId,
    ) -> Result<(), BackendError> {
        self.flush();
        shuttle_tokio::task::yield_now().await;
        self.gone_if_ended()?;
        let f = self.faults;
        if percent(f.call_errors) {
            return Err(BackendError::Failed("injected fault".into()));
        }
        let lie = percent(f.lost_replies);
        let turn = Arc::new(AtomicBool::new(false));
        self.ledger().turns.push((session, turn.clone()));
        // The turn.
        shuttle_tokio::task::yield_now().await;
        let ran = {
            let mut ledger = self.ledger();
            ledger.turns.retain(|(_, t)| !Arc::ptr_eq(t, &turn));
            if turn.load(Ordering::Relaxed) {
                Ok(false)
            } else {
                Self::prompt_lands(&mut ledger, via, session).map(|()| true)
            }
        };
        let ran = match ran {
            Ok(ran) => ran,
            Err(e) => {
                return if lie {
                    Err(BackendError::Failed("reply lost".into()))
                } else {
                    Err(e)
                };
            }
        };
        if ran {
            let error = percent(f.error_events);
            let mut ledger = self.ledger();
            self.publish_end(&mut ledger, session, error);
        }
        // The turn's end travels on the event stream, apart from the reply.
        if ran && shuttle::rand::thread_rng().gen_bool(0.5) {
            self.flush();
        } else {
            let me = self.clone();
            shuttle_tokio::spawn(async move { me.flush() });
        }
        if lie {
            return Err(BackendError::Failed("reply lost".into()));
        }
        Ok(())
    }

    fn prompt_lands(
        ledger: &mut Ledger,
        via: Option<ServerId>,
        session: SessionId,
    ) -> Result<(), BackendError> {
        let Some(s) = ledger.sessions.get(session.0 as usize - 1) else {
            return Err(gone(format!("{session}'s server is gone")));
        };
        let server = s.1;
        if let Some(via) = via {
            if !ledger.servers.get(via.0 as usize - 1).is_some_and(|s| s.1) {
                return Err(gone(format!("{via} is not running")));
            }
            if via != server {
                // 200 with an empty body on the 7.3 CLI, which the SDK returns: nothing runs.
                return Err(BackendError::Failed(format!("{session} unknown on {via}")));
            }
        }
        if !ledger.servers[server.0 as usize - 1].1 {
            return Err(gone(format!("{session}'s server is gone")));
        }
        ledger.sessions[session.0 as usize - 1].2 = true;
        Ok(())
    }
}
