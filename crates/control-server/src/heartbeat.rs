//! The heartbeat sender (`docs/real-system.md`, heartbeat.ts): every interval, one
//! heartbeat to the town for each agent with a `starting` or `running` record. Heartbeats are
//! the town's only evidence that an agent lives; an untracked session sends none.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{Lifecycle, SessionBackend, Status};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{Heartbeat, status_name};
use crate::client::TownClient;
use crate::control::Control;

/// Sends heartbeats for ever (until its task is dropped with the container). Each round also
/// forgets, in the registry, the agents that finished on their own.
pub async fn send_heartbeats<B, L, C, F, S>(
    control: Arc<Control<B, L>>,
    town: TownClient<C>,
    every: Duration,
    container: String,
) where
    B: SessionBackend,
    L: Lifecycle<B>,
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A fixed cadence, as `setInterval`: a slow round does not push the next one back.
    let mut rounds = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        rounds.tick().await;
        control.sync_registry();
        let live: Vec<Heartbeat> = control
            .lifecycle()
            .snapshot()
            .agents
            .iter()
            .filter(|r| matches!(r.status, Status::Starting | Status::Running))
            .map(|r| Heartbeat {
                agent: r.agent.to_string(),
                status: status_name(r.status).to_string(),
                incarnation: r.incarnation,
                container: container.clone(),
            })
            .collect();
        for beat in live {
            // Best effort, as the real sender: a lost heartbeat is the town's to judge. Each
            // is bounded by the interval: a request that hangs (a partition, a town that does
            // not answer) must not hold up the rounds after it, as one `setInterval` callback
            // does not hold up the next.
            match tokio::time::timeout(every, town.heartbeat(&beat)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("heartbeat of {} not delivered: {e}", beat.agent),
                Err(_) => tracing::debug!("heartbeat of {} timed out", beat.agent),
            }
        }
    }
}
