//! Workloads: the calls the control plane makes, and when. Drawn from the decision stream, or
//! written by hand for regression tests.

use std::fmt;

use crate::decisions::Decisions;

/// Index of an agent in a scenario (`a0`, `a1`, ...).
pub type AgentIx = u8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Starts the agent; a restart when it is already Starting or Running.
    Start(AgentIx),
    Stop(AgentIx),
    /// Container shutdown; ends with a bounce of the container host.
    Evict,
}

/// The kind of backend call, for triggers and timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    EnsureServer,
    CloseServer,
    CreateSession,
    Prompt,
    AbortSession,
    Subscribe,
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EnsureServer => "ensure_server",
            Self::CloseServer => "close_server",
            Self::CreateSession => "create_session",
            Self::Prompt => "prompt",
            Self::AbortSession => "abort_session",
            Self::Subscribe => "subscribe",
        })
    }
}

/// When an operation is issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// At this simulated millisecond.
    At(u64),
    /// As soon as a call of this kind made on behalf of this agent is in flight (for building
    /// a known race on purpose).
    WhilePending(CallKind, AgentIx),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    pub when: Trigger,
}

/// The agents, their workdirs, and the operations of one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `workdirs[i]` is the workdir index of agent `i`.
    pub workdirs: Vec<u8>,
    pub ops: Vec<Op>,
}

/// Bounds for generated workloads.
#[derive(Clone, Debug)]
pub struct WorkloadShape {
    pub max_agents: u8,
    pub max_workdirs: u8,
    pub max_ops: u32,
    /// Operations are issued within `0..=window_ms`.
    pub window_ms: u32,
}

impl Default for WorkloadShape {
    fn default() -> Self {
        Self {
            max_agents: 3,
            max_workdirs: 2,
            max_ops: 8,
            window_ms: 60,
        }
    }
}

impl Workload {
    pub fn generate(shape: &WorkloadShape, d: &mut Decisions) -> Self {
        let agents = d.between(2, u32::from(shape.max_agents.max(2))) as u8;
        let workdirs_n = d.between(1, u32::from(shape.max_workdirs.max(1)));
        let workdirs = (0..agents).map(|_| d.below(workdirs_n) as u8).collect();
        let n_ops = d.between(2, shape.max_ops.max(2));
        let mut ops: Vec<Op> = (0..n_ops)
            .map(|_| {
                let agent = d.below(u32::from(agents)) as AgentIx;
                let kind = match d.below(100) {
                    0..60 => OpKind::Start(agent),
                    60..90 => OpKind::Stop(agent),
                    _ => OpKind::Evict,
                };
                let at = u64::from(d.below(shape.window_ms + 1));
                Op {
                    kind,
                    when: Trigger::At(at),
                }
            })
            .collect();
        // Stable sort: operations due at the same millisecond keep their drawn order.
        ops.sort_by_key(|op| match op.when {
            Trigger::At(t) => t,
            Trigger::WhilePending(..) => u64::MAX,
        });
        Self { workdirs, ops }
    }

    pub fn agents(&self) -> usize {
        self.workdirs.len()
    }
}

pub fn agent_name(ix: AgentIx) -> String {
    format!("a{ix}")
}

pub fn workdir_name(ix: u8) -> String {
    format!("w{ix}")
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start(a) => write!(f, "start a{a}"),
            Self::Stop(a) => write!(f, "stop a{a}"),
            Self::Evict => f.write_str("evict"),
        }
    }
}
