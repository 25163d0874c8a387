//! A session's supervisor: the task that owns its child until the child dies. It turns the
//! lines the child prints into events, kills and reaps the child when the session is removed
//! from the table, and removes the session itself when the child exits on its own.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::sync::{broadcast, oneshot};

use crate::sessions::SessionEvent;

/// After a child exits, how long to keep reading what it printed: a grandchild that inherited
/// the pipe could otherwise hold the session open forever.
const DRAIN: Duration = Duration::from_millis(200);

/// SIGKILL, then wait: a killed child is reaped, never left a zombie.
pub(crate) async fn kill(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Owns session `id`'s child until it dies. `killed` resolves when the session was removed from
/// the table (abort, close); `remove` takes it out of the table when the child exits on its own,
/// and says whether it was still there.
pub(crate) async fn supervise(
    id: u64,
    mut child: Child,
    stdout: ChildStdout,
    events: broadcast::Sender<SessionEvent>,
    mut killed: oneshot::Receiver<()>,
    remove: impl FnOnce() -> bool,
) {
    let mut lines = BufReader::new(stdout).lines();
    let mut reading = true;
    let status = loop {
        // Biased: a kill wins over output, and output printed before an exit is read first.
        tokio::select! {
            biased;
            _ = &mut killed => {
                // Removed from the table (abort or close): whoever removed it waits for this
                // task, so the child is reaped before they answer.
                kill(&mut child).await;
                return;
            }
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) => forward(&events, &line),
                Ok(None) | Err(_) => reading = false,
            },
            status = child.wait() => break status,
        }
    };
    if reading {
        let drained = async {
            while let Ok(Some(line)) = lines.next_line().await {
                forward(&events, &line);
            }
        };
        let _ = tokio::time::timeout(DRAIN, drained).await;
    }
    // Removed before the error is sent, so a client that sees the error no longer finds the
    // session listed. Not found means an abort got there first: no error for an abort.
    if remove() {
        tracing::info!(id, ?status, "session exited on its own");
        let _ = events.send(SessionEvent::Error(exit_detail(status)));
    }
}

fn forward(events: &broadcast::Sender<SessionEvent>, line: &str) {
    let event = match line.trim() {
        "idle" => SessionEvent::Idle,
        "error" => SessionEvent::Error(serde_json::json!({ "reason": "agent" })),
        other => {
            tracing::debug!(line = other, "agent output ignored");
            return;
        }
    };
    // No subscriber is not an error: events are not kept for later ones.
    let _ = events.send(event);
}

fn exit_detail(status: io::Result<ExitStatus>) -> serde_json::Value {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => serde_json::json!({
            "reason": "exited",
            "code": status.code(),
            "signal": status.signal(),
        }),
        Err(e) => serde_json::json!({ "reason": "exited", "detail": e.to_string() }),
    }
}
