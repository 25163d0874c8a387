//! One contract, two backends: the same cases run against the simulation's fake backend
//! (fault-free, in simulated time) and against `HttpBackend` on real session servers and
//! processes on 127.0.0.1. A case that the fake fails and the real one passes (or the other
//! way round) is a difference between them: fixed in the fake, or listed in docs/contract.md as a
//! modelled simplification.

use std::collections::BTreeSet;
use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, SessionBackend, SessionEvent, Workdir};
use lifecycle_sim::FaultConfig;
use lifecycle_sim::contract::on_fake_backend;
use session_server::{HttpBackend, HttpBackendConfig};

/// How long a case waits for an event, or for a stream to end.
const WAIT: Duration = Duration::from_secs(5);

/// What a case needs to know of the backend beyond the trait: a prompt that makes the
/// session fail.
#[derive(Clone, Copy)]
struct Knobs {
    failing_prompt: &'static str,
}

fn workdir(name: &str) -> Workdir {
    Workdir::new(name)
}

fn agent(name: &str) -> AgentId {
    AgentId::new(name)
}

/// What the next event of a stream is: an event, the stream's end (`None`), or nothing
/// within the wait.
/// The next event that says something of the session: heartbeats (which the fake sends as
/// the real server does, and a real stream may too) say only that the stream is alive.
async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<SessionEvent>,
) -> Result<Option<SessionEvent>, &'static str> {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Some(SessionEvent::Heartbeat) => continue,
                other => return other,
            }
        }
    })
    .await
    .map_err(|_| "nothing within the wait")
}

async fn create_then_list_shows_the_session<B: SessionBackend>(b: &B, _: Knobs) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let session = b.create_session(server, &agent("a0")).await.unwrap();
    let listed = b.list_sessions(server).await.unwrap();
    assert_eq!(listed, [(session, agent("a0"))]);
    let servers = b.list_servers().await.unwrap();
    assert_eq!(servers, [(server, workdir("w0"))]);
}

async fn ensure_server_returns_the_running_one<B: SessionBackend>(b: &B, _: Knobs) {
    let first = b.ensure_server(&workdir("w0")).await.unwrap();
    let again = b.ensure_server(&workdir("w0")).await.unwrap();
    let other = b.ensure_server(&workdir("w1")).await.unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
}

async fn abort_ends_the_session_and_its_stream_and_a_prompt_runs_it_again<B: SessionBackend>(
    b: &B,
    _: Knobs,
) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let session = b.create_session(server, &agent("a0")).await.unwrap();
    let mut events = b.subscribe(session).await.unwrap();
    b.abort_session(session).await.unwrap();
    assert_eq!(b.list_sessions(server).await.unwrap(), []);
    // Our trait's per-session stream ends at the abort (kilo's server-wide stream does not).
    assert_eq!(next_event(&mut events).await, Ok(None), "the stream ends");
    // kilo answers 200 to an abort of a session aborted before (recorded on 7.7.9).
    b.abort_session(session).await.unwrap();
    // kilo runs a prompt to an aborted session: a fresh turn, and the session is back.
    b.prompt(session, "more").await.unwrap();
    assert_eq!(
        b.list_sessions(server).await.unwrap(),
        [(session, agent("a0"))]
    );
}

async fn close_ends_every_session_and_stream_on_the_server<B: SessionBackend>(b: &B, _: Knobs) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let one = b.create_session(server, &agent("a0")).await.unwrap();
    let two = b.create_session(server, &agent("a1")).await.unwrap();
    let mut first = b.subscribe(one).await.unwrap();
    let mut second = b.subscribe(two).await.unwrap();
    b.close_server(server).await.unwrap();
    assert_eq!(next_event(&mut first).await, Ok(None));
    assert_eq!(next_event(&mut second).await, Ok(None));
    assert_eq!(b.list_servers().await.unwrap(), []);
    assert!(matches!(
        b.list_sessions(server).await,
        Err(BackendError::Gone(_))
    ));
    assert!(matches!(
        b.prompt(one, "more").await,
        Err(BackendError::Gone(_))
    ));
}

async fn a_prompted_session_goes_idle<B: SessionBackend>(b: &B, _: Knobs) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let session = b.create_session(server, &agent("a0")).await.unwrap();
    let mut events = b.subscribe(session).await.unwrap();
    b.prompt(session, "work").await.unwrap();
    assert_eq!(next_event(&mut events).await, Ok(Some(SessionEvent::Idle)));
    // Idle is not the end: the session still runs.
    assert_eq!(b.list_sessions(server).await.unwrap().len(), 1);
}

async fn a_failing_turn_reports_an_error_then_idle<B: SessionBackend>(b: &B, knobs: Knobs) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let session = b.create_session(server, &agent("a0")).await.unwrap();
    let mut events = b.subscribe(session).await.unwrap();
    b.prompt(session, knobs.failing_prompt).await.unwrap();
    // As kilo: `session.error`, then `session.idle`, and the session persists.
    assert_eq!(next_event(&mut events).await, Ok(Some(SessionEvent::Error)));
    assert_eq!(next_event(&mut events).await, Ok(Some(SessionEvent::Idle)));
    assert_eq!(
        b.list_sessions(server).await.unwrap(),
        [(session, agent("a0"))]
    );
}

async fn ids_are_unique_under_concurrent_creates<B: SessionBackend>(b: &B, _: Knobs) {
    let server = b.ensure_server(&workdir("w0")).await.unwrap();
    let names: Vec<AgentId> = (0..10).map(|i| agent(&format!("a{i}"))).collect();
    let created = futures_join_all(names.iter().map(|a| b.create_session(server, a))).await;
    let ids: BTreeSet<_> = created.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(b.list_sessions(server).await.unwrap().len(), 10);
}

/// Awaits every future, concurrently, in order (a small `join_all`: the calls of one backend
/// interleave).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

/// Runs a case on the fake backend, fault-free but for the event family the case needs (a
/// prompted session goes idle, or fails), on several seeds: the fake's latencies, and so the
/// interleavings of concurrent calls, differ by seed.
fn on_fake<C, Fut>(faults: FaultConfig, case: C)
where
    C: FnOnce(lifecycle_sim::FakeBackend) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    for seed in 0..8 {
        on_fake_backend(seed, faults, case.clone());
    }
}

fn fake_faults(events: &str) -> FaultConfig {
    let mut faults = FaultConfig::none();
    // Every turn ends idle: the retired `idle-events` family is not needed.
    if events == "error" {
        faults.error_events = 100;
    }
    faults
}

const FAKE: Knobs = Knobs {
    failing_prompt: "anything",
};
const REAL: Knobs = Knobs {
    failing_prompt: session_server::FAIL,
};

/// Runs a case on real session servers under a fresh root, and checks nothing is left.
async fn on_real<Fut: std::future::Future<Output = ()>>(case: impl FnOnce(HttpBackend) -> Fut) {
    let dir = tempfile::tempdir().unwrap();
    let backend = HttpBackend::new(HttpBackendConfig {
        binary: env!("CARGO_BIN_EXE_session-server").into(),
        work_ms: 20,
        call_timeout: Duration::from_secs(5),
        root: dir.path().to_path_buf(),
    });
    tokio::time::timeout(Duration::from_secs(30), case(backend))
        .await
        .expect("the case ends within 30 s");
}

macro_rules! contract {
    ($name:ident, $events:literal) => {
        mod $name {
            use super::*;

            #[test]
            fn on_the_fake_backend() {
                on_fake(fake_faults($events), |b| async move {
                    super::$name(&b, FAKE).await
                });
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_real_session_servers() {
                on_real(|b| async move { super::$name(&b, REAL).await }).await;
            }
        }
    };
}

contract!(create_then_list_shows_the_session, "");
contract!(ensure_server_returns_the_running_one, "");
contract!(
    abort_ends_the_session_and_its_stream_and_a_prompt_runs_it_again,
    ""
);
contract!(close_ends_every_session_and_stream_on_the_server, "");
contract!(a_prompted_session_goes_idle, "idle");
contract!(a_failing_turn_reports_an_error_then_idle, "error");
contract!(ids_are_unique_under_concurrent_creates, "");
