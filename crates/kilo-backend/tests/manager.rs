//! The production manager (`AgentManager`) on real `kilo serve` 7.7.9 through `KiloBackend`:
//! a start, a stop, then a start and a stop of two agents in two workdirs (three server
//! starts, the last two in parallel), and an eviction. After every step what the manager
//! tracks is what kilo holds live, and after every stop of an agent alone on its server no
//! kilo process is left.
//!
//! "Live" on kilo: a session `GET /session` lists on a running server of the backend, in that
//! server's workdir, and not aborted through the backend since it was last prompted
//! (`KiloBackend::live_sessions`). Kilo keeps no aborted flag: it lists every session on disk,
//! so the backend's memory of its aborts is the only way to tell.

use std::collections::BTreeSet;
use std::time::Duration;

use agent_lifecycle::{
    AgentId, AgentManager, Lifecycle, ManagerConfig, SessionBackend, SessionId, StartRequest,
    Workdir,
};
use kilo_backend::KiloBackend;

mod common;
use common::{World, timed};

fn start(agent: &str, workdir: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new(workdir),
        prompt: format!("work for {agent}"),
    }
}

/// The sessions the manager tracks: (session, agent) of every record not finished.
fn tracked(manager: &AgentManager<KiloBackend>) -> BTreeSet<(SessionId, AgentId)> {
    manager
        .snapshot()
        .agents
        .into_iter()
        .filter(|r| !r.status.is_terminal())
        .filter_map(|r| r.session.map(|s| (s, r.agent)))
        .collect()
}

/// The sessions kilo holds live, on every running server of the backend.
async fn live(backend: &KiloBackend) -> BTreeSet<(SessionId, AgentId)> {
    let mut live = BTreeSet::new();
    for (server, _) in backend.list_servers().await.expect("list_servers") {
        live.extend(backend.live_sessions(server).await.expect("live_sessions"));
    }
    live
}

async fn tracked_is_live(step: &str, manager: &AgentManager<KiloBackend>, backend: &KiloBackend) {
    let (tracked, live) = (tracked(manager), live(backend).await);
    println!("after {step}: tracked {tracked:?}, live {live:?}");
    assert_eq!(tracked, live, "after {step}: tracked vs live on kilo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manager_starts_and_stops_agents_on_kilo_7_7_9() {
    let Some(world) = World::new().await else {
        return;
    };
    let backend = world.backend();
    let config = ManagerConfig {
        // A server start takes 4–23 s and the call timeout bounds it.
        call_timeout: Duration::from_secs(120),
        // No agent may idle out during the test.
        idle_timeout: Duration::from_secs(3600),
        retry_pause: Duration::from_millis(200),
        request_lifetime: Duration::from_secs(121),
    };
    let manager = AgentManager::new(backend.clone(), config);
    let run = async {
        timed("start a0 (one spawn)", manager.start(start("a0", "w0")))
            .await
            .expect("start a0");
        assert_eq!(tracked(&manager).len(), 1);
        tracked_is_live("start a0", &manager, &backend).await;
        assert_eq!(world.processes().len(), 1, "one kilo serve");

        timed("stop a0", manager.stop(&AgentId::new("a0")))
            .await
            .expect("stop a0");
        tracked_is_live("stop a0", &manager, &backend).await;
        assert_eq!(backend.list_servers().await, Ok(vec![]));
        world.assert_no_process_left("stop a0").await;

        let (x, y) = timed("start a0 and a1 (two spawns in parallel)", async {
            tokio::join!(
                manager.start(start("a0", "w0")),
                manager.start(start("a1", "w1"))
            )
        })
        .await;
        x.expect("start a0 again");
        y.expect("start a1");
        assert_eq!(tracked(&manager).len(), 2);
        tracked_is_live("start a0 and a1", &manager, &backend).await;
        assert_eq!(backend.list_servers().await.unwrap().len(), 2);
        // The new w0 server lists a0's first session too (from disk): aborted, so not live.
        let w0 = backend
            .list_servers()
            .await
            .unwrap()
            .into_iter()
            .find(|(_, w)| w.0.as_ref() == "w0")
            .unwrap()
            .0;
        assert_eq!(backend.list_sessions(w0).await.unwrap().len(), 2);

        timed("stop a0", manager.stop(&AgentId::new("a0")))
            .await
            .expect("stop a0");
        tracked_is_live("stop a0 (again)", &manager, &backend).await;
        assert_eq!(backend.list_servers().await.unwrap().len(), 1);
        timed("stop a1", manager.stop(&AgentId::new("a1")))
            .await
            .expect("stop a1");
        tracked_is_live("stop a1", &manager, &backend).await;
        assert_eq!(backend.list_servers().await, Ok(vec![]));
        world.assert_no_process_left("stop a0 and a1").await;

        timed("evict", manager.evict()).await.expect("evict");
        tracked_is_live("evict", &manager, &backend).await;
        world.assert_no_process_left("evict").await;
    };
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the test ends within four minutes");
    drop(manager);
    drop(backend);
    world.assert_no_process_left("dropping the manager").await;
}
