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
        agent.latest.cancel();
        agent.latest = CancellationToken::new();
        (agent.turn.clone(), agent.latest.clone(), incarnation)
    };
    let _turn = tokio::select! {
        biased;
        _ = token.cancelled() => return Err(LifecycleError::Cancelled),
        turn = turn.lock_owned() => turn,
    };
    // The restart path: the previous incarnation is gone before this one begins.
    inner
        .teardown_or_retry(&request.agent, None, Status::Exited)
        .await?;
    if token.is_cancelled() {
        return Err(LifecycleError::Cancelled);
    }
    inner.with_agent(&request.agent, |agent| {
        agent.record = Some(Record {
            incarnation,
            status: Status::Starting,
            lease: None,
            session: None,
            suspect_on: None,
        });
    });
    match Inner::start_up(inner, &request, incarnation, &token).await {
        Ok(()) => {
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
                    tokio::spawn(reap_servers(self.clone(), request.workdir.clone(), settles));
                }
                return Err(e.into());
            }
        };
        let server = lease.server();
        self.with_record(agent, |r| r.lease = Some(lease));
        Self::cancelled(token)?;

        let session = match self
            .ask
            .ask(self.backend.create_session(server, agent))
            .await
        {
            Ok(session) => session,
            Err((e, settles)) => {
                // The create may have happened anyway (until `settles`), and the server may
                // be gone.
                self.servers.suspect(&request.workdir, server);
                self.with_record(agent, |r| r.suspect_on = Some((server, settles)));
                return Err(e.into());
            }
        };
        self.with_record(agent, |r| r.session = Some(session));
        Self::cancelled(token)?;

        let events = self.call(self.backend.subscribe(session)).await?;
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
        Self::cancelled(token)?;

        self.call(self.backend.prompt(session, &request.prompt))
            .await?;
        Self::cancelled(token)
    }
}
