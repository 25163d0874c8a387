//! The HTTP API of the `session-server` binary on 127.0.0.1, with the default agent working
//! 50 ms a prompt. Every test runs under a time bound, and its server's process group is
//! killed when the test ends, failed or not.

mod common;

use std::collections::BTreeSet;

use common::{
    Running, WHOLE, call_raw, create, events, listed, session_processes, wait_for_session_processes,
};
use hyper::Method;
use serde_json::json;
use tokio::time::timeout;

#[tokio::test]
async fn a_created_session_is_listed_and_is_a_child_process_with_its_markers() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let (status, health) = server.call(Method::GET, "/health", None).await;
        assert_eq!(status, 200);
        assert_eq!(health["ok"], true);
        assert_eq!(health["pid"], server.pid);
        assert_eq!(health["workdir"], workdir.path().to_str().unwrap());

        assert_eq!(listed(server.addr).await, Vec::<u64>::new());
        let id = create(server.addr, "a0").await;
        assert_eq!(id, 1, "ids start at 1");
        let (status, list) = server.call(Method::GET, "/sessions", None).await;
        assert_eq!(status, 200);
        assert_eq!(list, json!([{ "id": 1, "agent": "a0" }]));

        let children = wait_for_session_processes(server.pid, 1).await;
        let child = &children[0];
        assert_eq!((child.session, child.agent.as_str()), (id, "a0"));
        assert_eq!(child.workdir, workdir.path().to_str().unwrap());
        let cwd = std::fs::read_link(format!("/proc/{}/cwd", child.pid)).unwrap();
        assert_eq!(cwd, workdir.path().canonicalize().unwrap());

        let second = create(server.addr, "a1").await;
        assert_eq!(listed(server.addr).await, vec![id, second]);
        assert_eq!(wait_for_session_processes(server.pid, 2).await.len(), 2);
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn a_prompt_brings_an_idle_event_to_every_subscriber() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let id = create(server.addr, "a0").await;
        let mut first = events(server.addr, id).await.expect("a stream");
        let mut second = events(server.addr, id).await.expect("a stream");
        let prompt = json!({ "text": "do the\nthing" });
        let path = format!("/sessions/{id}/prompt");
        let (status, body) = server.call(Method::POST, &path, Some(prompt.clone())).await;
        assert_eq!((status, body), (200, json!({})));
        for stream in [&mut first, &mut second] {
            let event = stream.next_in_time().await.expect("an event");
            assert_eq!((event.event.as_str(), event.data.as_str()), ("idle", "{}"));
        }
        // The session lives on, waiting for its next prompt.
        let (status, _) = server.call(Method::POST, &path, Some(prompt)).await;
        assert_eq!(status, 200);
        assert_eq!(first.next_in_time().await.expect("an event").event, "idle");
        assert_eq!(listed(server.addr).await, vec![id]);
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}

// As kilo: a failing turn publishes `error` then `idle`, and the session persists.
#[tokio::test]
async fn a_failing_turn_brings_an_error_then_idle_and_its_session_stays() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let id = create(server.addr, "a0").await;
        let kept = create(server.addr, "a1").await;
        let mut stream = events(server.addr, id).await.expect("a stream");
        let path = format!("/sessions/{id}/prompt");
        let (status, _) = server
            .call(Method::POST, &path, Some(json!({ "text": "fail" })))
            .await;
        assert_eq!(status, 200);

        let event = stream.next_in_time().await.expect("an event");
        assert_eq!(event.event, "error");
        let detail: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(detail["reason"], json!("agent"));
        let event = stream.next_in_time().await.expect("an event");
        assert_eq!(event.event, "idle");

        assert_eq!(listed(server.addr).await, vec![id, kept]);
        let (status, _) = server
            .call(Method::POST, &path, Some(json!({ "text": "x" })))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            stream.next_in_time().await.map(|e| e.event),
            Some("idle".into())
        );
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn abort_kills_the_child_removes_the_session_and_ends_its_stream() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let id = create(server.addr, "a0").await;
        let kept = create(server.addr, "a1").await;
        let pid = wait_for_session_processes(server.pid, 2)
            .await
            .into_iter()
            .find(|p| p.session == id)
            .expect("the session's child")
            .pid;
        let mut stream = events(server.addr, id).await.expect("a stream");

        let path = format!("/sessions/{id}/abort");
        let (status, body) = server.call(Method::POST, &path, None).await;
        assert_eq!((status, body), (200, json!({})));
        // An abort is no error: the stream just ends.
        assert_eq!(stream.next_in_time().await, None);
        assert_eq!(listed(server.addr).await, vec![kept]);
        // Reaped before the answer: no process carries its marker, not even a zombie.
        assert!(
            session_processes(server.pid)
                .iter()
                .all(|p| p.session != id)
        );
        let left = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let marker = format!("LIFECYCLE_SIM_SESSION={id}");
        assert!(!left.split(|&b| b == 0).any(|var| var == marker.as_bytes()));

        // As kilo: a second abort is answered 200, and a prompt runs the session again.
        let (status, body) = server.call(Method::POST, &path, None).await;
        assert_eq!((status, body), (200, json!({})));
        let prompt = format!("/sessions/{id}/prompt");
        let (status, _) = server
            .call(Method::POST, &prompt, Some(json!({ "text": "x" })))
            .await;
        assert_eq!(status, 200);
        assert_eq!(listed(server.addr).await, vec![id, kept]);
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn twenty_concurrent_creates_get_twenty_distinct_ids() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let addr = server.addr;
        let creates: Vec<_> = (0..20)
            .map(|n| tokio::spawn(async move { create(addr, &format!("a{n}")).await }))
            .collect();
        let mut ids = BTreeSet::new();
        for create in creates {
            ids.insert(create.await.expect("a create"));
        }
        assert_eq!(ids, (1..=20).collect::<BTreeSet<u64>>());
        assert_eq!(listed(addr).await, ids.iter().copied().collect::<Vec<_>>());
        let children: BTreeSet<u64> = wait_for_session_processes(server.pid, 20)
            .await
            .into_iter()
            .map(|p| p.session)
            .collect();
        assert_eq!(children, ids);
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn bad_input_is_refused_with_400_and_unknown_sessions_with_404() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        let addr = server.addr;
        let bad: [(Method, &str, &[u8]); 7] = [
            (Method::POST, "/sessions", b"not json"),
            (Method::POST, "/sessions", b"{}"),
            (Method::POST, "/sessions", br#"{"agent":7}"#),
            (Method::POST, "/sessions", br#"{"agent":""}"#),
            (Method::POST, "/sessions", br#"{"agent":"a\u0000b"}"#),
            (Method::POST, "/sessions/x/prompt", br#"{"text":"hi"}"#),
            (Method::POST, "/sessions/18446744073709551616/abort", b""),
        ];
        for (method, path, body) in bad {
            let (status, answer) = call_raw(addr, method, path, Some(body.to_vec())).await;
            assert_eq!(
                status,
                400,
                "{path} {:?}: {answer}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(answer["error"], "bad-request", "{answer}");
            assert!(answer["detail"].is_string(), "{answer}");
        }
        let id = create(addr, "a0").await;
        let prompt = format!("/sessions/{id}/prompt");
        let (status, answer) = call_raw(addr, Method::POST, &prompt, Some(b"{}".to_vec())).await;
        assert_eq!(
            (status, answer["error"].clone()),
            (400, json!("bad-request"))
        );

        let body = Some(br#"{"text":"hi"}"#.to_vec());
        let (status, answer) = call_raw(addr, Method::POST, "/sessions/99/prompt", body).await;
        assert_eq!((status, answer["error"].clone()), (404, json!("gone")));
        // As kilo's: an abort answers 200 for any well-formed id.
        let (status, answer) = call_raw(addr, Method::POST, "/sessions/99/abort", None).await;
        assert_eq!((status, answer), (200, json!({})));
        let refused = events(addr, 99).await.err().expect("refused");
        assert_eq!(
            (refused.0, refused.1["error"].clone()),
            (404, json!("gone"))
        );
        // Still serving, with the one good session.
        assert_eq!(listed(addr).await, vec![id]);
        server.stop().await;
    })
    .await
    .expect("the test finished in time");
}
