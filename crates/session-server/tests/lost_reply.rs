//! A call whose client gave up while the server still completed it leaves its effect: the
//! server is frozen (SIGSTOP) while a create is on its way, the client times out, the server
//! is let go (SIGCONT) and creates the session anyway, which a listing then finds. The fake
//! backend models this as its lost-reply and late-effect families.

use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, SessionBackend, Workdir};
use session_server::{HttpBackend, HttpBackendConfig};

fn signal_group(group: i32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), signal).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_caller_timed_out_still_creates_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let run = async {
        let quick = HttpBackend::new(HttpBackendConfig {
            binary: env!("CARGO_BIN_EXE_session-server").into(),
            work_ms: 20,
            call_timeout: Duration::from_millis(300),
            root: dir.path().to_path_buf(),
        });
        let server = quick.ensure_server(&Workdir::new("w0")).await.unwrap();
        let [group] = quick.process_groups()[..] else {
            panic!("one server")
        };
        signal_group(group, nix::sys::signal::Signal::SIGSTOP);
        let created = quick.create_session(server, &AgentId::new("a0")).await;
        signal_group(group, nix::sys::signal::Signal::SIGCONT);
        assert_eq!(created, Err(BackendError::Timeout));
        // The request waited in the socket; the server takes it up and creates the session.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let listed = quick.list_sessions(server).await.unwrap();
            if listed.iter().any(|(_, a)| *a == AgentId::new("a0")) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{listed:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("bounded");
}
