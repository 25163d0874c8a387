//! The ambiguity model (issue 9): a call that failed or timed out may still take effect. A
//! manager that assumes "a call that timed out did nothing" must be caught. It is played here
//! by `owned` itself, told that requests never outlive their timeout
//! (`request_lifetime` 0): it then reconciles a failed create at once, and a create that lands
//! after that listing leaves a session nothing tracks.

use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{FaultMode, Model, Scenario, Settings};

fn all_faults() -> Settings {
    Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    }
}

#[test]
fn a_manager_that_trusts_a_timed_out_call_did_nothing_is_caught_within_20000_seeds() {
    let settings = all_faults();
    let found = (0..20_000).find_map(|seed| {
        let mut spec = Scenario::from_seed(&settings, seed).spec;
        spec.timing.request_lifetime_ms = Some(0);
        let outcome = Scenario::with_spec(seed, spec.clone()).run(Model::Owned);
        outcome.violation.is_some().then_some((seed, spec, outcome))
    });
    let (seed, spec, outcome) = found.expect("no seed of 20,000 caught the naive manager");
    let report = scenario_report(Model::Owned, &Origin::seed(seed), &spec, &outcome);
    // The finding is the ambiguity's: something landed that its caller never heard of.
    assert!(
        report.contains("landed at the server"),
        "seed {seed} failed for another reason:\n{report}"
    );
    // Told the truth, the same manager passes the same scenario.
    let truthful = Scenario::from_seed(&settings, seed).run(Model::Owned);
    assert!(
        truthful.violation.is_none(),
        "{}",
        scenario_report(
            Model::Owned,
            &Origin::seed(seed),
            &Scenario::from_seed(&settings, seed).spec,
            &truthful
        )
    );
}

#[test]
fn late_effects_and_lost_replies_fire_and_land_in_the_timeline() {
    let settings = all_faults();
    let (mut late, mut lost) = (0, 0);
    for seed in 0..300 {
        let outcome = Scenario::from_seed(&settings, seed).run(Model::Owned);
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
        AgentId, AgentManager, AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerId,
        ServerSnapshot, SessionBackend, SessionId, Snapshot, StartRequest, Status, Workdir,
    };
    use lifecycle_sim::backend::FakeBackend;
    use lifecycle_sim::decisions::Decisions;
    use lifecycle_sim::run::run_scenario;
    use lifecycle_sim::workload::{OpKind, Trigger};
    use lifecycle_sim::{Outcome, ScenarioSpec};

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

    /// One agent, started once: nothing races it but its own caller going away.
    fn one_start(drops: u32) -> ScenarioSpec {
        let mut spec = race_regressions::fault_free(&[0], &[(OpKind::Start(0), Trigger::At(1))]);
        spec.faults.drops = drops;
        spec
    }

    fn run<M: Lifecycle<FakeBackend>>(spec: &ScenarioSpec, seed: u64) -> Outcome {
        run_scenario::<M>(spec, Decisions::from_seed(seed), seed)
    }

    #[test]
    fn a_manager_left_halfway_by_a_dropped_caller_is_caught_and_owned_is_not() {
        for seed in 0..50 {
            let outcome = run::<Naive>(&one_start(0), seed);
            assert_eq!(
                outcome.violation,
                None,
                "the naive manager must be right when not dropped:\n{}",
                outcome.history.timeline()
            );
        }
        let caught: Vec<u64> = (0..200)
            .filter(|&seed| run::<Naive>(&one_start(100), seed).violation.is_some())
            .collect();
        assert!(
            !caught.is_empty(),
            "no dropped start left the naive manager inconsistent"
        );
        let outcome = run::<Naive>(&one_start(100), caught[0]);
        assert!(
            outcome
                .history
                .timeline()
                .contains("dropped: its caller went away"),
            "{}",
            outcome.history.timeline()
        );
        for seed in 0..200 {
            let outcome = run::<AgentManager<FakeBackend>>(&one_start(100), seed);
            assert_eq!(outcome.violation, None, "seed {seed}");
        }
    }
}
