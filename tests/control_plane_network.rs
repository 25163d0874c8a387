//! The product's control server on turmoil's network: the same router the `control-server`
//! binary serves on real TCP, on a `container` host, called by a `town` host through
//! simulated TCP connections that latency, partitions and repairs act on.

use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{AgentManager, Lifecycle, ManagerConfig};
use control_server::{
    ClientError, Control, ControlClient, Heartbeat, InMemoryBackend, MemoryRegistry, StartBody,
    TownClient, router, send_heartbeats,
};
use lifecycle_sim::system::{
    CONTAINER_HOST, TOWN_HOST, TOWN_PORT, connect, connect_town, serve, serve_on,
};

fn start(agent: &str, dispatch: &str) -> StartBody {
    StartBody {
        agent: agent.into(),
        workdir: "w0".into(),
        prompt: "work".into(),
        dispatch: Some(dispatch.into()),
    }
}

fn sim(seed: u64) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host(CONTAINER_HOST, || async {
        let manager = Arc::new(AgentManager::new(
            InMemoryBackend::new(),
            ManagerConfig::default(),
        ));
        serve(router(Control::new(manager))).await?;
        Ok(())
    });
    sim
}

/// What the town saw, in order: the run's trace.
fn run(seed: u64) -> Vec<String> {
    let mut sim = sim(seed);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    sim.client("town", async move {
        let client = ControlClient::new(connect);
        let note = |s: String| log.lock().unwrap().push(s);
        client.health().await?;
        let started = client.start(&start("a0", "d1")).await?;
        note(format!("start: {}", started.outcome));
        let running = client.status("a0").await?.expect("a record");
        assert_eq!(running.status, "running");
        note(format!(
            "status: {} #{}",
            running.status, running.incarnation
        ));
        assert_eq!(
            client.start(&start("a0", "d1")).await?.outcome,
            "already-serving"
        );

        // Partitioned, the town cannot reach the container at all; repaired, it can.
        turmoil::partition("town", CONTAINER_HOST);
        let cut = tokio::time::timeout(Duration::from_secs(1), client.status("a0")).await;
        let cut_off = match cut {
            Err(_elapsed) => true,
            Ok(Err(ClientError::Connect(_) | ClientError::Http(_))) => true,
            Ok(other) => panic!("a partitioned call answered: {other:?}"),
        };
        note(format!("partitioned: cut off {cut_off}"));
        turmoil::repair("town", CONTAINER_HOST);
        let stopped = client.stop("a0").await?;
        note(format!("stop: {}", stopped.status));
        assert_eq!(
            client.status("a0").await?.expect("a record").status,
            "exited"
        );
        note(format!("done at {:?}", turmoil::sim_elapsed()));
        Ok(())
    });
    sim.run().expect("the town's calls succeed");
    seen.lock().map(|trace| trace.clone()).unwrap()
}

#[test]
fn the_control_router_serves_on_turmoils_network_and_partitions_cut_it_off() {
    let trace = run(1);
    assert_eq!(
        trace[..4],
        [
            "start: started",
            "status: running #1",
            "partitioned: cut off true",
            "stop: exited",
        ]
    );
}

#[test]
fn the_same_seed_gives_the_same_network_run() {
    for seed in 0..5 {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
}

/// A container host whose registry outlives it (as the real one lives in the town), and whose
/// boot hydration runs after a registry fetch of `fetch` simulated time.
fn sim_with_registry(registry: Arc<MemoryRegistry>, fetch: Duration) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host(CONTAINER_HOST, move || {
        let registry = registry.clone();
        async move {
            let manager = Arc::new(AgentManager::new(
                InMemoryBackend::new(),
                ManagerConfig::default(),
            ));
            let control = Control::with_registry(manager, Box::new(registry));
            let hydrating = control.clone();
            tokio::spawn(async move {
                tokio::time::sleep(fetch).await;
                hydrating.hydrate().await;
            });
            serve(router(control)).await?;
            Ok(())
        }
    });
    sim
}

#[test]
fn a_start_waits_for_boot_hydration_and_a_bounced_container_takes_its_agent_up_again() {
    let registry = Arc::new(MemoryRegistry::default());
    let mut sim = sim_with_registry(registry.clone(), Duration::from_millis(200));
    let phase = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = phase.clone();
    sim.client("town", async move {
        let client = ControlClient::new(connect);
        let note = |s: String| log.lock().unwrap().push(s);
        client.start(&start("a0", "d1")).await?;
        note(format!(
            "started at {}",
            turmoil::sim_elapsed().unwrap().as_millis()
        ));
        // Wait for the container to come back from its bounce, and for a0 to run again.
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(Some(state)) = client.status("a0").await
                && state.status == "running"
                && log.lock().unwrap().iter().any(|l| l == "bounced")
            {
                note(format!(
                    "running again at {:?}",
                    turmoil::sim_elapsed().unwrap()
                ));
                return Ok(());
            }
        }
    });
    let mut bounced = false;
    while !sim.step().expect("the run goes on") {
        let seen = phase.lock().unwrap().clone();
        if !bounced && seen.iter().any(|l| l.starts_with("started")) {
            assert_eq!(registry.contents().len(), 1, "a0 is registered");
            sim.bounce(CONTAINER_HOST);
            phase.lock().unwrap().push("bounced".into());
            bounced = true;
        }
    }
    let seen = phase.lock().unwrap().clone();
    // The start waited for the 200 ms registry fetch and hydration before it ran.
    let started_ms: u128 = seen
        .iter()
        .find_map(|l| l.strip_prefix("started at "))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert!(started_ms >= 200, "{seen:?}");
    assert!(
        seen.iter().any(|l| l.starts_with("running again")),
        "{seen:?}"
    );
}

/// Heartbeats cross the network from the container to the town every interval, for each
/// agent with a live record, and stop once the agent is stopped.
#[test]
fn heartbeats_reach_the_town_while_an_agent_lives() {
    const EVERY: Duration = Duration::from_millis(300);
    let mut sim = turmoil::Builder::new()
        .rng_seed(3)
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host(CONTAINER_HOST, || async {
        let manager = Arc::new(AgentManager::new(
            InMemoryBackend::new(),
            ManagerConfig::default(),
        ));
        let control = Control::new(manager);
        let town = TownClient::new(connect_town);
        tokio::spawn(send_heartbeats(
            control.clone(),
            town,
            EVERY,
            "boot-1".into(),
        ));
        serve(router(control)).await?;
        Ok(())
    });
    let beats = Arc::new(std::sync::Mutex::new(Vec::<(u128, Heartbeat)>::new()));
    let received = beats.clone();
    let marks = Arc::new(std::sync::Mutex::new((0u128, 0u128)));
    let marked = marks.clone();
    sim.client(TOWN_HOST, async move {
        let api = axum::Router::new().route(
            "/agents/{id}/heartbeat",
            axum::routing::post(move |axum::Json(beat): axum::Json<Heartbeat>| {
                let received = received.clone();
                async move {
                    let at = turmoil::sim_elapsed().unwrap().as_millis();
                    received.lock().unwrap().push((at, beat));
                    axum::Json(serde_json::json!({ "ok": true }))
                }
            }),
        );
        tokio::spawn(serve_on(TOWN_PORT, api));
        let client = ControlClient::new(connect);
        client.start(&start("a0", "d1")).await?;
        let started = turmoil::sim_elapsed().unwrap().as_millis();
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.stop("a0").await?;
        let stopped = turmoil::sim_elapsed().unwrap().as_millis();
        *marked.lock().unwrap() = (started, stopped);
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    });
    sim.run().expect("the town's calls succeed");
    let (started, stopped) = *marks.lock().unwrap();
    let beats = beats.lock().unwrap().clone();
    let between = beats
        .iter()
        .filter(|(at, _)| *at > started && *at <= stopped)
        .count();
    assert!(
        between >= 2,
        "{between} heartbeats in {} ms: {beats:?}",
        stopped - started
    );
    // One round every 300 ms, each heartbeat late by its own network delay at most.
    for pair in beats.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap > 150 && gap < 450, "a gap of {gap} ms: {beats:?}");
    }
    assert!(
        beats
            .iter()
            .all(|(_, b)| b.agent == "a0" && b.status == "running" && b.container == "boot-1"),
        "{beats:?}"
    );
    // None once the stop has returned and a round has passed.
    let late = stopped + EVERY.as_millis() + 100;
    assert!(beats.iter().all(|(at, _)| *at <= late), "{beats:?}");
}
