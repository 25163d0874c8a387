//! Each `SessionBackend` method of `KiloBackend` on the real `kilo serve` 7.7.9, against the
//! mock provider: what it answers, and what the server then holds. Three server starts in
//! all (two in parallel, one after a crash). Prints each call's duration.

use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, SessionBackend, SessionEvent, SessionId, Workdir};
use kilo_contract::http::Client;
use kilo_contract::mock_provider::{Behaviour, Outcome};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::mpsc::error::TryRecvError;

mod common;
use common::{World, timed};

const EVENT_WAIT: Duration = Duration::from_secs(15);

/// The next event, waiting at most [`EVENT_WAIT`]; `None` when the stream ended.
async fn next(rx: &mut UnboundedReceiver<SessionEvent>, what: &str) -> Option<SessionEvent> {
    tokio::time::timeout(EVENT_WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {EVENT_WAIT:?}: {what}"))
}

/// Events until the first `Idle`, and whatever follows it within a second (kilo publishes
/// `session.idle` more than once at some turns' ends); printed.
async fn until_idle(rx: &mut UnboundedReceiver<SessionEvent>, what: &str) -> Vec<SessionEvent> {
    let mut seen = Vec::new();
    loop {
        match next(rx, what).await {
            Some(event) => {
                seen.push(event);
                if event == SessionEvent::Idle {
                    break;
                }
            }
            None => panic!("{what}: the stream ended after {seen:?}"),
        }
    }
    let (more, ended) = drain(rx, Duration::from_secs(1)).await;
    assert!(!ended, "{what}: the stream ended after {seen:?} {more:?}");
    seen.extend(more);
    println!("events, {what}: {seen:?}");
    seen
}

/// Whatever arrives within `wait`, and whether the stream ended.
async fn drain(
    rx: &mut UnboundedReceiver<SessionEvent>,
    wait: Duration,
) -> (Vec<SessionEvent>, bool) {
    tokio::time::sleep(wait).await;
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(event) => seen.push(event),
            Err(TryRecvError::Empty) => return (seen, false),
            Err(TryRecvError::Disconnected) => return (seen, true),
        }
    }
}

fn gone<T: std::fmt::Debug>(result: Result<T, BackendError>, what: &str) {
    assert!(
        matches!(result, Err(BackendError::Gone(_))),
        "{what}: expected Gone, got {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_trait_method_on_kilo_7_7_9() {
    let Some(world) = World::new().await else {
        return;
    };
    let backend = world.backend();
    let (w0, w1) = (Workdir::new("w0"), Workdir::new("w1"));
    let (a0, a1) = (AgentId::new("agent-0"), AgentId::new("agent-1"));

    // ensure_server: one process per workdir, both started at once.
    let (s0, s1) = timed("ensure_server x2 (two spawns in parallel)", async {
        tokio::join!(backend.ensure_server(&w0), backend.ensure_server(&w1))
    })
    .await;
    let (s0, s1) = (s0.expect("w0's server"), s1.expect("w1's server"));
    assert_ne!(s0, s1);
    assert_eq!(
        timed("ensure_server, running", backend.ensure_server(&w0)).await,
        Ok(s0),
        "the running server is returned"
    );
    let mut servers = backend.list_servers().await.unwrap();
    servers.sort();
    let mut expected = vec![(s0, w0.clone()), (s1, w1.clone())];
    expected.sort();
    assert_eq!(servers, expected);

    // create_session: the agent is the session's title, and list_sessions says so.
    let x0 = timed("create_session", backend.create_session(s0, &a0))
        .await
        .unwrap();
    let x1 = backend.create_session(s1, &a1).await.unwrap();
    assert_eq!(
        timed("list_sessions", backend.list_sessions(s0)).await,
        Ok(vec![(x0, a0.clone())])
    );
    assert_eq!(backend.list_sessions(s1).await, Ok(vec![(x1, a1.clone())]));
    // Both servers share a HOME, so kilo itself lists both sessions on each server (the
    // project is "global"): the backend keeps the server's own directory's.
    let raw = Client::new(backend.server_addr(s0).unwrap())
        .list_ids()
        .await;
    assert!(
        raw.contains(&backend.kilo_id(x1).unwrap()),
        "kilo lists the other workdir's session too: {raw:?}"
    );

    // subscribe + prompt: the prompt blocks for the turn; the turn ends with session.idle.
    let mut rx0 = timed("subscribe", backend.subscribe(x0)).await.unwrap();
    let mut rx1 = backend.subscribe(x1).await.unwrap();
    timed("prompt (quick turn)", backend.prompt(x0, "hello"))
        .await
        .expect("a turn");
    let events = until_idle(&mut rx0, "a turn").await;
    assert!(
        events.iter().all(|e| *e == SessionEvent::Idle),
        "{events:?}"
    );
    // The title kilo generates after the first turn does not replace the one given.
    assert_eq!(backend.list_sessions(s0).await, Ok(vec![(x0, a0.clone())]));

    // A provider error: the prompt answers 200 (the error is in the message), the stream has
    // session.error then session.idle, and the session stays.
    world.mock.push([Behaviour::Malformed]);
    timed("prompt (provider error)", backend.prompt(x0, "break"))
        .await
        .expect("a provider error is a 200");
    let events = until_idle(&mut rx0, "a provider error").await;
    assert_eq!(events[..2], [SessionEvent::Error, SessionEvent::Idle]);
    assert!(
        events[2..].iter().all(|e| *e == SessionEvent::Idle),
        "{events:?}"
    );
    assert_eq!(backend.list_sessions(s0).await, Ok(vec![(x0, a0.clone())]));

    // abort_session on an idle session: Ok, the stream stays open; kilo still lists the
    // session (the backend's live_sessions does not).
    let (late, _) = drain(&mut rx0, Duration::from_millis(1500)).await;
    println!("events, later after the provider error: {late:?}");
    timed("abort_session (idle)", backend.abort_session(x0))
        .await
        .unwrap();
    assert_eq!(backend.list_sessions(s0).await, Ok(vec![(x0, a0.clone())]));
    assert_eq!(backend.live_sessions(s0).await, Ok(vec![]));
    let (events, ended) = drain(&mut rx0, Duration::from_millis(1000)).await;
    println!("events, an abort of an idle session: {events:?}");
    assert!(!ended, "an abort ends no stream");
    assert!(
        events.iter().all(|e| *e == SessionEvent::Idle),
        "{events:?}"
    );
    assert_eq!(
        backend.abort_session(x0).await,
        Ok(()),
        "an abort is idempotent"
    );
    let (events, ended) = drain(&mut rx0, Duration::from_millis(1000)).await;
    println!("events, a second abort of it: {events:?}");
    assert!(!ended, "an abort ends no stream");
    assert!(
        events.iter().all(|e| *e == SessionEvent::Idle),
        "{events:?}"
    );

    // A prompt makes it live again; an abort mid-turn cuts the turn short (the prompt answers
    // Ok at once), publishes session.error then idle, and does not end the stream.
    let turns_before = world.mock.main_requests().len();
    world.mock.push([Behaviour::slow(100, 100)]);
    let prompt = tokio::spawn({
        let backend = backend.clone();
        async move { backend.prompt(x0, "a long turn").await }
    });
    world
        .mock
        .wait_main(turns_before, EVENT_WAIT, |r| r.chunks_sent >= 1)
        .await
        .expect("the long turn streams");
    assert_eq!(backend.live_sessions(s0).await, Ok(vec![(x0, a0.clone())]));
    timed("abort_session (mid-turn)", backend.abort_session(x0))
        .await
        .unwrap();
    let answered = timed("the cut prompt's answer after the abort", async {
        tokio::time::timeout(Duration::from_secs(10), prompt).await
    })
    .await
    .expect("the prompt answers after the abort")
    .unwrap();
    assert_eq!(answered, Ok(()), "an aborted turn answers 200");
    let cut = world
        .mock
        .wait_main(turns_before, EVENT_WAIT, |r| r.outcome != Outcome::Pending)
        .await
        .expect("the upstream request ends");
    assert_eq!(
        cut.outcome,
        Outcome::ClientWentAway,
        "kilo cancels upstream"
    );
    let events = until_idle(&mut rx0, "an abort mid-turn").await;
    assert_eq!(events[..2], [SessionEvent::Error, SessionEvent::Idle]);
    assert!(
        events[2..].iter().all(|e| *e == SessionEvent::Idle),
        "{events:?}"
    );
    let (more, ended) = drain(&mut rx0, Duration::from_millis(500)).await;
    assert!(
        !ended,
        "kilo's event stream does not end for an abort: {more:?}"
    );
    assert_eq!(backend.live_sessions(s0).await, Ok(vec![]));

    // Unknown sessions and servers are Gone.
    gone(backend.prompt(SessionId(999), "x").await, "prompt unknown");
    gone(backend.abort_session(SessionId(999)).await, "abort unknown");
    gone(backend.subscribe(SessionId(999)).await, "subscribe unknown");

    // close_server: the process group is killed and reaped; everything on it is Gone, and its
    // event streams end.
    let pid1 = backend.server_pid(s1).unwrap();
    timed("close_server", backend.close_server(s1))
        .await
        .unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid1}")).exists(),
        "the closed server is reaped"
    );
    assert_eq!(backend.list_servers().await, Ok(vec![(s0, w0.clone())]));
    gone(backend.prompt(x1, "x").await, "prompt on a closed server");
    gone(backend.list_sessions(s1).await, "list on a closed server");
    gone(backend.close_server(s1).await, "close twice");
    let (_, ended) = drain(&mut rx1, Duration::from_secs(2)).await;
    assert!(ended, "a closed server's stream ends");

    // A server that dies on its own (SIGKILL from outside) is not running any more.
    let pid0 = backend.server_pid(s0).unwrap();
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid0 as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (_, ended) = drain(&mut rx0, Duration::from_secs(2)).await;
    assert!(ended, "a dead server's stream ends");
    assert_eq!(backend.list_servers().await, Ok(vec![]));
    gone(backend.prompt(x0, "x").await, "prompt on a dead server");
    gone(backend.abort_session(x0).await, "abort on a dead server");
    gone(backend.list_sessions(s0).await, "list on a dead server");
    gone(backend.subscribe(x0).await, "subscribe on a dead server");

    // ensure_server starts a new one, which lists the dead server's session from disk.
    let s2 = timed(
        "ensure_server after a crash (spawn)",
        backend.ensure_server(&w0),
    )
    .await
    .unwrap();
    assert_ne!(s2, s0);
    let listed = backend.list_sessions(s2).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (y0, agent) = listed[0].clone();
    assert_eq!(agent, a0);
    assert_ne!(y0, x0, "a new server's session is a new SessionId");
    assert_eq!(
        backend.kilo_id(y0),
        backend.kilo_id(x0),
        "the same kilo session"
    );
    // Aborted through this backend before the crash, so not live (kilo cannot say).
    assert_eq!(backend.live_sessions(s2).await, Ok(vec![]));
    timed(
        "prompt on the restarted server",
        backend.prompt(y0, "again"),
    )
    .await
    .expect("the session on disk runs on the new server");
    assert_eq!(backend.live_sessions(s2).await, Ok(vec![(y0, a0.clone())]));

    backend.close_server(s2).await.unwrap();
    world.assert_no_process_left("closing every server").await;
    drop(backend);
    world.assert_no_process_left("dropping the backend").await;
}
