//! The event subscription of an incarnation: its idle timer and session death end it through
//! a background exit, ordered with every other operation on the agent.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::backend::{AgentId, ServerId, SessionBackend, SessionEvent, Workdir};
use crate::lifecycle::Status;
use crate::point;

/// Which incarnation a subscription belongs to.
pub(super) struct Incarnation {
    pub(super) agent: AgentId,
    pub(super) incarnation: u64,
    pub(super) workdir: Workdir,
    pub(super) server: ServerId,
}

/// The event subscription of one incarnation, with its idle timer; both end with the
/// incarnation's token, so an old incarnation's events or timer never reach a new one. With
/// `idle_now` (a restarted session, which is idle and sends no idle event), the timer starts
/// armed.
pub(super) async fn watch_events<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    me: Incarnation,
    mut events: UnboundedReceiver<SessionEvent>,
    token: CancellationToken,
    idle_now: bool,
) {
    let watching = Watching {
        inner: inner.clone(),
        key: (me.agent.clone(), me.incarnation),
    };
    let mut idle_deadline: Option<tokio::time::Instant> =
        idle_now.then(|| tokio::time::Instant::now() + inner.config.idle_timeout);
    let end = loop {
        let idle = async {
            match idle_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = token.cancelled() => return,
            event = events.recv() => match event {
                Some(SessionEvent::Idle) => {
                    point!("events.idle_armed");
                    idle_deadline = Some(tokio::time::Instant::now() + inner.config.idle_timeout);
                    if let Some(w) = inner.state().watchers.get_mut(&watching.key) {
                        w.idle_armed = true;
                    }
                }
                // The stream is alive; that says nothing of the session's work.
                Some(SessionEvent::Heartbeat) => point!("events.heartbeat_ignored"),
                // The session died under us: its own error, or its server went away.
                Some(SessionEvent::Error) | None => {
                    if event.is_some() {
                        point!("events.session_error");
                    } else {
                        point!("events.stream_ended");
                    }
                    inner.servers.suspect(&me.workdir, me.server);
                    break Status::Failed;
                }
            },
            _ = idle => {
                point!("events.idle_exit");
                break Status::Exited;
            }
        }
    };
    drop(watching);
    inner.exit(&me.agent, me.incarnation, end).await;
}

/// Unregisters a subscription however its task ends (returned, or dropped with the runtime).
struct Watching<B: SessionBackend> {
    inner: Arc<Inner<B>>,
    key: (AgentId, u64),
}

impl<B: SessionBackend> Drop for Watching<B> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.watchers.remove(&self.key);
        }
    }
}

impl<B: SessionBackend> Inner<B> {
    /// A background exit (idle, or the session died): ordered with every other operation on
    /// the agent, and a no-op if a newer incarnation has taken over.
    async fn exit(self: &Arc<Self>, agent: &AgentId, incarnation: u64, end: Status) {
        let turn = self.with_agent(agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        // A failure is logged and retried by teardown_or_retry.
        let _ = self.teardown_or_retry(agent, Some(incarnation), end).await;
    }
}
