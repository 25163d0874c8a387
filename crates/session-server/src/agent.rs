//! The default agent: what `session-server agent` runs in each session's child. A prompt is a
//! line on stdin; the agent "works" for a while, then says `idle`. It stays up as long as its
//! stdin is open, as a real agent waits for its next prompt. A failing turn says `error`, then
//! `idle`, and the agent goes on, as a `kilo serve` session does after a provider error.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The prompt whose turn fails, so that tests can bring an error event.
pub const FAIL: &str = "fail";

/// How the agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnd {
    /// Its stdin closed: exit 0.
    Eof,
    /// Kept for the exit code's sake; a failing turn no longer ends the agent.
    Failed,
}

/// Answers prompts from `input` on `output` until `input` ends; a [`FAIL`] turn ends with
/// `error`, then `idle`.
pub async fn run_agent<R, W>(input: R, mut output: W, work: Duration) -> io::Result<AgentEnd>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut lines = BufReader::new(input).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim_end_matches('\r') == FAIL {
            output.write_all(b"error\n").await?;
        } else {
            tokio::time::sleep(work).await;
        }
        // Flushed at once: the server reads it as the end of this prompt's work.
        output.write_all(b"idle\n").await?;
        output.flush().await?;
    }
    Ok(AgentEnd::Eof)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_prompt_is_answered_idle_until_eof() {
        let mut out = Vec::new();
        let end = run_agent(&b"one\ntwo\n"[..], &mut out, Duration::ZERO).await;
        assert_eq!(end.ok(), Some(AgentEnd::Eof));
        assert_eq!(out, b"idle\nidle\n");
    }

    // A failing turn no longer ends the agent: kilo's session persists after session.error.
    #[tokio::test]
    async fn fail_prints_error_then_idle_and_reads_on() {
        let mut out = Vec::new();
        let end = run_agent(&b"one\nfail\nthree\n"[..], &mut out, Duration::ZERO).await;
        assert_eq!(end.ok(), Some(AgentEnd::Eof));
        assert_eq!(out, b"idle\nerror\nidle\nidle\n");
    }
}
