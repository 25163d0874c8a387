//! What the race regressions share: a story's verdicts seed by seed, and whether a story's race
//! was reached at all. Stories themselves are written with [`lifecycle_sim::Story`] in each
//! test file, next to the bug report they pin.

use std::ops::Range;

use lifecycle_sim::{Invariant, Outcome, Story, Subject, run_once};

/// What `subject` breaks on `story` under each of `seeds` (`None`: it held). Each seed is
/// checked to have issued every operation of the story, so that a race aimed with
/// `while_pending` that never fired cannot pass for a race survived.
pub fn verdicts(subject: &dyn Subject, story: &Story, seeds: Range<u64>) -> Vec<Option<Invariant>> {
    seeds
        .map(|seed| {
            let outcome = run_once(subject, story, seed);
            assert_every_op_issued(story, &outcome, seed);
            outcome.violation.map(|v| v.invariant)
        })
        .collect()
}

/// Every seed of `seeds` issues every operation of `story` on `subject`: the story's race is
/// reached each time (a companion to `check_random(..).assert_holds()`, which judges only
/// what ran).
pub fn reaches_every_op(subject: &dyn Subject, story: &Story, seeds: Range<u64>) {
    for seed in seeds {
        assert_every_op_issued(story, &run_once(subject, story, seed), seed);
    }
}

fn assert_every_op_issued(story: &Story, outcome: &Outcome, seed: u64) {
    assert!(
        outcome.never_issued.is_empty(),
        "seed {seed}: operation(s) {:?} of the story ({} in all) never ran, so its race was never reached:\n{}",
        outcome.never_issued,
        story.spec().workload.ops.len(),
        outcome.history.timeline()
    );
}

/// #1341, where a restart can meet the first startup (docs/real-system.md), and §6.8.
pub mod stories {
    use lifecycle_sim::{CallKind, Story, Timing};

    /// The default clocks with an idle timeout long against the story's calls, as the real
    /// 120 s is against a start: every turn ends with `session.idle` (docs/real-system.md), and
    /// the default 30 ms would exit an agent the story needs running before its race is run.
    fn idle_timeout_long_against_a_start() -> Timing {
        Timing {
            idle_timeout_ms: 1_000,
            ..Timing::default()
        }
    }

    /// a1 keeps the shared server up; a0 starts, and is restarted while its create is in flight.
    /// a1's turn ends idle at once: the long idle timeout keeps it running through a0's race.
    #[rustfmt::skip]
    pub fn restart_during_create_on_a_shared_server() -> Story {
        Story::new()
            .agents(["a0", "a1"])
            .timing(idle_timeout_long_against_a_start())
            .start("a1")
            .start("a0").at_ms(30)
            .start("a0").while_pending(CallKind::CreateSession, "a0")
    }

    /// a0 alone: restarted while its create is in flight, its session the only one counted.
    #[rustfmt::skip]
    pub fn restart_during_create_alone() -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0")
            .start("a0").while_pending(CallKind::CreateSession, "a0")
    }

    /// a0 alone: restarted while its first startup waits for `createKilo`.
    #[rustfmt::skip]
    pub fn restart_during_server_spawn() -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0")
            .start("a0").while_pending(CallKind::EnsureServer, "a0")
    }

    /// §6.8: a0 runs; a restart's stop is in flight when a third start arrives: it sees Stopping,
    /// skips the stop, installs its record and starts up; the restart then installs its record
    /// over it, and the third start's controller is unreachable. a0's turn ends idle at once:
    /// the long idle timeout keeps it running until the restart at 60 ms.
    #[rustfmt::skip]
    pub fn start_during_a_restarts_stop() -> Story {
        Story::new()
            .agents(["a0"])
            .timing(idle_timeout_long_against_a_start())
            .start("a0")
            .start("a0").at_ms(60)
            .start("a0").while_pending(CallKind::AbortSession, "a0")
    }
}

pub mod naive {
    //! A manager whose operations are not drop-safe: its start awaits the backend with its
    //! bookkeeping half done, so a caller that goes away (the `drops` family) leaves a session
    //! created and never recorded. Correct when nobody drops it. Its start calls the backend
    //! at its first poll, with no yield and no task of its own before.

    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use agent_lifecycle::{
        AgentId, AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerId, ServerSnapshot,
        SessionBackend, SessionId, Snapshot, StartRequest, Status, Workdir,
    };
    use lifecycle_sim::{FakeBackend, Manager};

    #[derive(Default)]
    struct State {
        agents: BTreeMap<AgentId, (u64, Status, Option<SessionId>)>,
        servers: BTreeMap<Workdir, (ServerId, i64)>,
        next: u64,
    }

    pub struct Naive {
        backend: FakeBackend,
        state: Mutex<State>,
    }

    impl Naive {
        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.state.lock().unwrap()
        }
    }

    impl Lifecycle<FakeBackend> for Naive {
        fn new(backend: FakeBackend, _config: ManagerConfig) -> Self {
            Self {
                backend,
                state: Mutex::default(),
            }
        }

        async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
            let StartRequest { agent, workdir, .. } = request;
            // A restart stops what runs first.
            self.stop(&agent).await?;
            let known = self.state().servers.get(&workdir).map(|(s, _)| *s);
            let server = match known {
                Some(server) => server,
                None => self.backend.ensure_server(&workdir).await?,
            };
            // Not drop-safe: the session exists before anything records it.
            let session = self.backend.create_session(server, &agent).await?;
            let mut state = self.state();
            state.next += 1;
            let incarnation = state.next;
            state
                .agents
                .insert(agent, (incarnation, Status::Running, Some(session)));
            state.servers.entry(workdir).or_insert((server, 0)).1 += 1;
            Ok(())
        }

        async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
            let session = match self.state().agents.get_mut(agent) {
                Some(record) if record.1 == Status::Running => {
                    record.1 = Status::Stopping;
                    record.2
                }
                _ => None,
            };
            if let Some(session) = session {
                self.backend.abort_session(session).await?;
                if let Some(record) = self.state().agents.get_mut(agent) {
                    record.1 = Status::Exited;
                    record.2 = None;
                }
                let closing = {
                    let mut state = self.state();
                    let entry = state.servers.iter_mut().next().map(|(w, e)| (w.clone(), e));
                    match entry {
                        Some((workdir, e)) => {
                            e.1 -= 1;
                            let server = e.0;
                            (e.1 == 0).then(|| {
                                state.servers.remove(&workdir);
                                server
                            })
                        }
                        None => None,
                    }
                };
                if let Some(server) = closing {
                    self.backend.close_server(server).await?;
                }
            }
            Ok(())
        }

        async fn evict(&self) -> Result<(), LifecycleError> {
            Ok(())
        }

        fn snapshot(&self) -> Snapshot {
            let state = self.state();
            Snapshot {
                agents: state
                    .agents
                    .iter()
                    .map(|(agent, &(incarnation, status, session))| AgentSnapshot {
                        agent: agent.clone(),
                        incarnation,
                        status,
                        session,
                        suspect_on: None,
                    })
                    .collect(),
                servers: state
                    .servers
                    .iter()
                    .map(|(workdir, &(server, count))| ServerSnapshot {
                        workdir: workdir.clone(),
                        server,
                        count,
                    })
                    .collect(),
                side: Vec::new(),
            }
        }
    }

    /// The naive manager, as a subject: its callers may go away mid-call.
    pub fn naive() -> Manager<Naive> {
        Manager::new("naive")
    }
}
