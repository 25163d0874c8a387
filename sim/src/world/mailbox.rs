//! What the simulated world tells the container, and in which order.
//!
//! Everything the harness makes happen at one simulated millisecond (a reply to a backend
//! call, a session or server event on a stream, a caller going away, an operation arriving)
//! is a [`Notice`]. Under [`SameInstant::Drawn`] the driver draws the order of the notices
//! of one millisecond, applies their server-side effects in that order, and hands them to the
//! container as one batch, which the container's own task delivers in that order: each
//! delivery wakes (or spawns) its task in tokio's FIFO run queue, so the tasks resume in the
//! drawn order. Under [`SameInstant::Fixed`] (cases recorded before the orders were drawn)
//! notices are delivered the moment they are made, in the old fixed order.

use std::sync::{Arc, Mutex};

use agent_lifecycle::{AgentId, BackendError, SessionEvent};
use lifecycle_models::ServerEvent;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use crate::scenario::workload::CallKind;
use crate::world::backend::lock;
use crate::world::history::{OpId, What};
use crate::world::{Command, Reply, World};

pub use crate::scenario::engine::SameInstant;

/// One thing the world tells the container.
pub enum Notice {
    /// The answer to a backend call.
    Reply {
        call: u64,
        op: Option<OpId>,
        agent: Option<AgentId>,
        kind: CallKind,
        to: oneshot::Sender<Reply>,
        reply: Reply,
    },
    /// An event on a session's own stream (`owned`'s subscription).
    SessionEvent(UnboundedSender<SessionEvent>, SessionEvent),
    /// An event (or the error that ends it) on a server-wide SSE stream (the models').
    ServerEvent(
        UnboundedSender<Result<ServerEvent, BackendError>>,
        Result<ServerEvent, BackendError>,
    ),
    /// A server-wide SSE stream ends normally (its server shut down gracefully).
    StreamEnd(UnboundedSender<Result<ServerEvent, BackendError>>),
    /// The caller of an operation went away: its future is dropped.
    CallerGone(Arc<Notify>),
    /// An operation arrives at the container.
    Arrival(OpId, Command),
}

impl Notice {
    /// Delivers anything but an arrival (which the container spawns as a task). A reply
    /// whose caller stopped waiting is given back.
    pub fn deliver(self) -> Result<(), UnreadReply> {
        match self {
            Self::Reply {
                call,
                op,
                agent,
                kind,
                to,
                reply,
            } => to.send(reply).map_err(|reply| UnreadReply {
                call,
                op,
                agent,
                kind,
                reply,
            }),
            Self::SessionEvent(tx, event) => {
                let _ = tx.send(event);
                Ok(())
            }
            Self::ServerEvent(tx, event) => {
                let _ = tx.send(event);
                Ok(())
            }
            Self::StreamEnd(tx) => {
                drop(tx);
                Ok(())
            }
            Self::CallerGone(signal) => {
                signal.notify_one();
                Ok(())
            }
            Self::Arrival(..) => unreachable!("arrivals are spawned by the container"),
        }
    }

    /// Delivers it from the container's own task, where a reply nobody read any more is
    /// recorded: its caller gave up earlier in this same millisecond.
    pub fn deliver_in_container(self, world: &Mutex<World>) {
        if let Err(unread) = self.deliver() {
            lock(world).reply_unread(unread);
        }
    }
}

/// A reply whose caller had stopped waiting when it was delivered.
pub struct UnreadReply {
    pub call: u64,
    pub op: Option<OpId>,
    pub agent: Option<AgentId>,
    pub kind: CallKind,
    pub reply: Reply,
}

impl World {
    /// Tells the container something: at once, or, while the driver orders a millisecond's
    /// events, in the batch that goes out at its end.
    pub fn post(&mut self, notice: Notice) {
        if self.batching {
            self.outbox.push(notice);
            return;
        }
        match notice {
            Notice::Arrival(op, command) => {
                self.inbox
                    .as_ref()
                    .expect("operations arrive only while the container runs")
                    .send(vec![Notice::Arrival(op, command)])
                    .expect("the container reads its inbox while it runs");
            }
            // Outside the container (before a step): a caller that gave up is simply gone.
            other => {
                let _ = other.deliver();
            }
        }
    }

    /// From here until [`World::end_batch`], notices wait to go out together.
    pub fn begin_batch(&mut self) {
        self.batching = true;
    }

    /// Sends the batch to the container, whose task delivers it in order (or, with no
    /// container running, delivers it here).
    pub fn end_batch(&mut self) {
        self.batching = false;
        let batch = std::mem::take(&mut self.outbox);
        if batch.is_empty() {
            return;
        }
        match &self.inbox {
            Some(inbox) => inbox
                .send(batch)
                .unwrap_or_else(|_| panic!("the container reads its inbox while it runs")),
            None => {
                for notice in batch {
                    if let Err(unread) = notice.deliver() {
                        self.reply_unread(unread);
                    }
                }
            }
        }
    }

    /// A reply reached a caller that had given up earlier in the same millisecond: its
    /// effect happened and nobody was told.
    pub fn reply_unread(&mut self, unread: UnreadReply) {
        self.mark_ambiguous(&unread.reply);
        let what = What::CallAbandoned {
            call: unread.call,
            op: unread.op,
            kind: unread.kind,
        };
        self.history.push(self.now_ms, unread.agent, what);
    }
}
