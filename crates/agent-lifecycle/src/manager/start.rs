//! Starting an agent: a new incarnation takes the agent's turn once the previous one has
//! unwound, then acquires its server lease, session and event subscription, each recorded the
//! moment it is acquired. A restart (refresh, update) brings its incarnation up the same way.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::events::{Incarnation, watch_events};
use super::teardown::reap_servers;
use super::{Agent, Inner, Record, Wanted, Watcher};
use crate::ambiguity::ambiguous;
use crate::backend::SessionBackend;
use crate::lifecycle::{LifecycleError, StartRequest, Status};
use crate::point;

/// Who asked for a start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A caller: it supersedes whatever the agent runs.
    Command,
    /// Boot hydration: it yields to any operation on the agent since boot.
    Hydration,
}

/// A start, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn start<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    request: StartRequest,
    config: Option<String>,
    origin: Origin,
) -> Result<(), LifecycleError> {
    let inner = &inner;
    let (turn, token, incarnation) = {
        let mut state = inner.state();
        if state.evicting {
            point!("start.refused_while_evicting");
            return Err(LifecycleError::Evicting);
        }
        // The check and the entry it makes are one step under the state lock, so a start or
        // stop arriving later finds this start and supersedes it like any other.
        if origin == Origin::Hydration && state.agents.contains_key(&request.agent) {
            point!("hydrate.skipped_newer_command");
            return Ok(());
        }
        state.next_incarnation += 1;
        let incarnation = state.next_incarnation;
        let agent = state
            .agents
            .entry(request.agent.clone())
            .or_insert_with(Agent::new);
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
    let wanted = Wanted {
        request,
        config,
        incarnation,
        token,
    };
    inner.with_agent(&wanted.request.agent, |a| a.wanted = Some(wanted.clone()));
    // The restart path: the previous incarnation is gone before this one begins.
    if let Err(e) = inner
        .teardown_or_retry(&wanted.request.agent, None, Status::Exited)
        .await
    {
        inner.drop_wanted(&wanted);
        return Err(e);
    }
    if wanted.token.is_cancelled() {
        point!("start.cancelled_after_restart_teardown");
        inner.drop_wanted(&wanted);
        return Err(LifecycleError::Cancelled);
    }
    inner.bring_up(wanted, true).await
}

impl<B: SessionBackend> Inner<B> {
    /// Forgets what an operation meant to run once it gave up before its record existed,
    /// unless a newer operation has replaced it meanwhile.
    pub(super) fn drop_wanted(&self, wanted: &Wanted) {
        self.with_agent(&wanted.request.agent, |a| {
            if a.wanted.as_ref().map(|w| w.incarnation) == Some(wanted.incarnation) {
                a.wanted = None;
            }
        });
    }

    /// Makes `wanted` the agent's record and starts it up; on failure, tears it down whole.
    /// The caller holds the agent's turn and has ended the record before it. With `prompt`
    /// false (a restart: the agent's work is in its session already), the session gets no
    /// prompt, and its idle timer is armed at once: a restarted session is idle, and would
    /// otherwise never exit.
    pub(super) async fn bring_up(
        self: &Arc<Self>,
        wanted: Wanted,
        prompt: bool,
    ) -> Result<(), LifecycleError> {
        let agent = wanted.request.agent.clone();
        self.with_agent(&agent, |a| {
            if a.wanted.as_ref().map(|w| w.incarnation) == Some(wanted.incarnation) {
                a.wanted = None;
            }
            a.record = Some(Record {
                incarnation: wanted.incarnation,
                token: wanted.token.clone(),
                request: wanted.request.clone(),
                config: wanted.config.clone(),
                status: Status::Starting,
                lease: None,
                session: None,
                suspect_on: None,
                prompt_settles: None,
                prompting: false,
            });
        });
        let started = self
            .start_up(&wanted.request, wanted.incarnation, &wanted.token, prompt)
            .await;
        match started {
            Ok(()) => {
                if prompt {
                    point!("start.running");
                } else {
                    point!("restart.running");
                }
                self.with_record(&agent, |record| record.status = Status::Running);
                Ok(())
            }
            Err(e) => {
                let end = match e {
                    LifecycleError::Cancelled => Status::Exited,
                    _ => Status::Failed,
                };
                self.teardown_or_retry(&agent, None, end).await?;
                Err(e)
            }
        }
    }

    /// Steps 3-6 of a startup. Whatever it acquires goes into the record at once, so the
    /// caller's teardown releases it on every path.
    async fn start_up(
        self: &Arc<Self>,
        request: &StartRequest,
        incarnation: u64,
        token: &CancellationToken,
        prompt: bool,
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
                idle_armed: !prompt,
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
            !prompt,
        ));
        if token.is_cancelled() {
            point!("start.cancel_seen_after_subscribe");
            return Err(LifecycleError::Cancelled);
        }

        if !prompt {
            return Ok(());
        }
        // Running before the initial prompt, whose turn blocks for the agent's whole first
        // piece of work (#1828's fix: a record Starting for a whole turn looks stuck to the
        // drain and to the town).
        self.with_record(agent, |r| {
            r.status = Status::Running;
            r.prompting = true;
        });
        let prompted = self
            .ask
            .ask(self.backend.prompt(session, &request.prompt))
            .await;
        self.with_record(agent, |r| r.prompting = false);
        if let Err((e, settles)) = prompted {
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
