//! The ambiguity model (issue 9): a call that failed or timed out may still take effect. A
//! manager that assumes "a call that timed out did nothing" must be caught. It is played here
//! by `owned` itself, told that requests never outlive their timeout
//! (`request_lifetime` 0): it then reconciles a failed create at once, and a create that lands
//! after that listing leaves a session nothing tracks.

use lifecycle_sim::{FaultConfig, FaultMode, Model, Settings, Timing, check_random, run_once};

/// Generated scenarios with every fault family on: late effects and lost replies among them.
fn all_faults() -> Settings {
    Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    }
}

/// The same scenarios, run by a manager told that a request never outlives its timeout.
fn all_faults_told_a_timed_out_call_did_nothing() -> Settings {
    Settings {
        timing: Timing {
            request_lifetime_ms: Some(0),
            ..Timing::default()
        },
        ..all_faults()
    }
}

#[test]
fn a_manager_that_trusts_a_timed_out_call_did_nothing_is_caught_within_20000_seeds() {
    let naive = all_faults_told_a_timed_out_call_did_nothing();
    let finding = check_random(&Model::Owned, &naive, 20_000)
        .finding
        .expect("no seed of 20,000 caught the naive manager");
    let seed = finding.seed.expect("a seed found it");
    let report = finding.report(Model::Owned.name());
    // The finding is the ambiguity's: something landed that its caller never heard of.
    assert!(
        report.contains("landed at the server"),
        "seed {seed} failed for another reason:\n{report}"
    );
    // Told the truth, the same manager passes the same scenarios: every seed up to that one.
    check_random(&Model::Owned, &all_faults(), seed + 1).assert_holds();
}

#[test]
fn late_effects_and_lost_replies_fire_and_land_in_the_timeline() {
    let (mut late, mut lost) = (0, 0);
    for seed in 0..300 {
        let outcome = run_once(&Model::Owned, &all_faults(), seed);
        assert!(outcome.violation.is_none(), "seed {seed}");
        let timeline = outcome.history.timeline();
        late += timeline.matches("after its caller gave up").count();
        lost += timeline.matches("its reply is lost").count();
    }
    assert!(late > 20 && lost > 20, "late {late}, lost {lost}");
}

mod dropped_halfway {
    //! A manager whose operations are not drop-safe: its start awaits the backend with its
    //! bookkeeping half done, so a caller that goes away (the `drops` family) leaves a session
    //! created and never recorded. Correct when nobody drops it.

    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use agent_lifecycle::{
        AgentId, AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerId, ServerSnapshot,
        SessionBackend, SessionId, Snapshot, StartRequest, Status, Workdir,
    };
    use lifecycle_sim::{FakeBackend, FaultConfig, Manager, Model, Story, check_random};

    #[derive(Default)]
    struct State {
        agents: BTreeMap<AgentId, (u64, Status, Option<SessionId>)>,
        servers: BTreeMap<Workdir, (ServerId, i64)>,
        next: u64,
    }

    struct Naive {
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
    fn naive() -> Manager<Naive> {
        Manager::new("naive")
    }

    /// One agent, started once: nothing races it but its own caller going away.
    #[rustfmt::skip]
    fn one_start(drops: u32) -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0").at_ms(1)
            .faults(FaultConfig { drops, ..FaultConfig::none() })
    }

    #[test]
    fn a_manager_left_halfway_by_a_dropped_caller_is_caught_and_owned_is_not() {
        // Right when not dropped.
        check_random(&naive(), &one_start(0), 50).assert_holds();
        let finding = check_random(&naive(), &one_start(100), 200)
            .finding
            .expect("no dropped start left the naive manager inconsistent");
        let timeline = finding.outcome.history.timeline();
        assert!(
            timeline.contains("dropped: its caller went away"),
            "{timeline}"
        );
        check_random(&Model::Owned, &one_start(100), 200).assert_holds();
    }
}
