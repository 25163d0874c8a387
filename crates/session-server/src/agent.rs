//! The default agent: what `session-server agent` runs in each session's child. A prompt is a
//! line on stdin; the agent "works" for a while, then says `idle`. It stays up as long as its
//! stdin is open, as a real agent waits for its next prompt.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The prompt that makes the agent fail, so that tests can bring an error event.
pub const FAIL: &str = "fail";

/// How the agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnd {
    /// Its stdin closed: exit 0.
    Eof,
    /// It was told to fail: exit 1.
    Failed,
}

/// Answers prompts from `input` on `output` until `input` ends or a prompt is [`FAIL`].
pub async fn run_agent<R, W>(input: R, mut output: W, work: Duration) -> io::Result<AgentEnd>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut lines = BufReader::new(input).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim_end_matches('\r') == FAIL {
            output.write_all(b"error\n").await?;
            output.flush().await?;
            return Ok(AgentEnd::Failed);
        }
        tokio::time::sleep(work).await;
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

    #[tokio::test]
    async fn fail_prints_error_and_stops_reading() {
        let mut out = Vec::new();
        let end = run_agent(&b"one\nfail\nthree\n"[..], &mut out, Duration::ZERO).await;
        assert_eq!(end.ok(), Some(AgentEnd::Failed));
        assert_eq!(out, b"idle\nerror\n");
    }
}
