//! Starting an agent: a new incarnation takes the agent's turn once the previous one has
//! unwound, then acquires its server lease, session and event subscription, each recorded the
//! moment it is acquired.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::events::{Incarnation, watch_events};
use super::teardown::reap_servers;
use super::{Agent, Inner, Record, Watcher};
use crate::ambiguity::ambiguous;
use crate::backend::SessionBackend;
use crate::lifecycle::{LifecycleError, StartRequest, Status};
use crate::point;

/// A start, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn start<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    request: StartRequest,
) -> Result<(), LifecycleError> {
    let inner = &inner;
    let (turn, token, incarnation) = {
        let mut state = inner.state();
        if state.evicting {
            point!("start.refused_while_evicting");
            return Err(LifecycleError::Evicting);
        }
        state.next_incarnation += 1;
        let incarnation = state.next_incarnation;
        let agent = state
            .agents
            .entry(request.agent.clone())
            .or_insert_with(|| Agent {
                turn: Arc::default(),
                latest: CancellationToken::new(),
                record: None,
            });
        match agent.record.as_ref().map(|r| r.status) {
            Some(Status::Starting) => point!("start.superseded_starting"),
            Some(Status::Running) => point!("start.superseded_running"),
            _ => {}
        }
        agent.latest.cancel();
        agent.latest = CancellationToken::new();
        (agent.turn.clone(), agent.latest.clone(), incarnation)
    };
    let _turn = tokio::select! {
        biased;
        _ = token.cancelled() => {
            point!("start.cancelled_waiting_for_turn");
            return Err(LifecycleError::Cancelled);
        }
        turn = turn.lock_owned() => turn,
    };
    // The restart path: the previous incarnation is gone before this one begins.
    inner
        .teardown_or_retry(&request.agent, None, Status::Exited)
        .await?;
    if token.is_cancelled() {
        point!("start.cancelled_after_restart_teardown");
        return Err(LifecycleError::Cancelled);
    }
    inner.with_agent(&request.agent, |agent| {
        agent.record = Some(Record {
            incarnation,
            status: Status::Starting,
            lease: None,
            session: None,
            suspect_on: None,
            prompt_settles: None,
        });
    });
    match Inner::start_up(inner, &request, incarnation, &token).await {
        Ok(()) => {
            point!("start.running");
            inner.with_record(&request.agent, |record| record.status = Status::Running);
            Ok(())
        }
        Err(e) => {
            let end = match e {
                LifecycleError::Cancelled => Status::Exited,
                _ => Status::Failed,
            };
            inner.teardown_or_retry(&request.agent, None, end).await?;
            Err(e)
        }
    }
}

impl<B: SessionBackend> Inner<B> {
    /// Steps 3-6 of a startup. Whatever it acquires goes into the record at once, so the
    /// caller's teardown releases it on every path.
    async fn start_up(
        self: &Arc<Self>,
        request: &StartRequest,
        incarnation: u64,
        token: &CancellationToken,
    ) -> Result<(), LifecycleError> {
        let agent = &request.agent;
        let lease = match self
            .servers
            .acquire(&self.backend, &self.ask, &request.workdir)
            .await
        {
            Ok(lease) => lease,
            Err((e, settles)) => {
                // The server may start anyway: close it once the request can no longer land.
                if let Some(settles) = settles.filter(|_| ambiguous(&e)) {
                    point!("start.ensure_failed_reap_scheduled");
                    tokio::spawn(reap_servers(self.clone(), settles));
                }
                return Err(e.into());
            }
        };
        let server = lease.server();
        self.with_record(agent, |r| r.lease = Some(lease));
        if token.is_cancelled() {
            point!("start.cancel_seen_after_lease");
            return Err(LifecycleError::Cancelled);
        }

        let session = match self
            .ask
            .ask(self.backend.create_session(server, agent))
            .await
        {
            Ok(session) => session,
            Err((e, settles)) => {
                // The create may have happened anyway (until `settles`), and the server may
                // be gone.
                point!("start.create_failed_suspect");
                self.servers.suspect(&request.workdir, server);
                self.with_record(agent, |r| r.suspect_on = Some((server, settles)));
                return Err(e.into());
            }
        };
        self.with_record(agent, |r| r.session = Some(session));
        if token.is_cancelled() {
            point!("start.cancel_seen_after_create");
            return Err(LifecycleError::Cancelled);
        }

        let events = self
            .call(self.backend.subscribe(session))
            .await
            .inspect_err(|_| point!("start.subscribe_failed"))?;
        self.state().watchers.insert(
            (agent.clone(), incarnation),
            Watcher {
                token: token.clone(),
                idle_armed: false,
            },
        );
        tokio::spawn(watch_events(
            self.clone(),
            Incarnation {
                agent: agent.clone(),
                incarnation,
                workdir: request.workdir.clone(),
                server,
            },
            events,
            token.clone(),
        ));
        if token.is_cancelled() {
            point!("start.cancel_seen_after_subscribe");
            return Err(LifecycleError::Cancelled);
        }

        if let Err((e, settles)) = self
            .ask
            .ask(self.backend.prompt(session, &request.prompt))
            .await
        {
            point!("start.prompt_failed");
            if ambiguous(&e) {
                self.with_record(agent, |r| r.prompt_settles = Some(settles));
            }
            return Err(e.into());
        }
        if token.is_cancelled() {
            point!("start.cancel_seen_after_prompt");
            return Err(LifecycleError::Cancelled);
        }
        Ok(())
    }
}
