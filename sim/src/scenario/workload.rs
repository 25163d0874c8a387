//! Workloads: the calls the control plane makes, and when. Drawn from the decision stream, or
//! written by hand for regression tests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

pub use super::custom_op::{CustomOp, OpDecl, OpName};
pub use super::op_mix::OpMix;

/// Index of an agent in a scenario (`a0`, `a1`, ...).
pub type AgentIx = u8;

/// A workload operation: what the control plane asks of the manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// Starts the agent; a restart when it is already Starting or Running.
    Start(AgentIx),
    /// Stops the agent.
    Stop(AgentIx),
    /// Container shutdown; ends with a bounce of the container host.
    Evict,
    /// Restarts every running agent's server ([`Lifecycle::refresh`]).
    ///
    /// [`Lifecycle::refresh`]: agent_lifecycle::Lifecycle::refresh
    Refresh,
    /// Swaps the agent's configuration ([`Lifecycle::update`]).
    ///
    /// [`Lifecycle::update`]: agent_lifecycle::Lifecycle::update
    Update(AgentIx),
    /// The container dies (every process in it with it) and boots again; the new manager
    /// hydrates what the old one persisted ([`Lifecycle::hydrate`]), and the operation returns
    /// when the hydration does.
    ///
    /// [`Lifecycle::hydrate`]: agent_lifecycle::Lifecycle::hydrate
    Reboot,
    /// An operation the subject declares of its own.
    Custom(CustomOp),
}

impl OpKind {
    /// The agent the operation is about (an eviction, a refresh and a reboot are about all of
    /// them).
    pub fn agent(self) -> Option<AgentIx> {
        match self {
            Self::Start(a) | Self::Stop(a) | Self::Update(a) => Some(a),
            Self::Custom(c) => c.agent,
            Self::Evict | Self::Refresh | Self::Reboot => None,
        }
    }

    /// The same operation about agent `to` instead (shrinking renumbers agents).
    pub fn with_agent(self, to: impl Fn(AgentIx) -> AgentIx) -> Self {
        match self {
            Self::Start(a) => Self::Start(to(a)),
            Self::Stop(a) => Self::Stop(to(a)),
            Self::Update(a) => Self::Update(to(a)),
            Self::Custom(c) => Self::Custom(CustomOp {
                agent: c.agent.map(to),
                ..c
            }),
            other => other,
        }
    }

    /// The operation's name in coverage, reports and `--ops`: `start`, `stop`, ..., or a
    /// custom operation's own.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start(_) => "start",
            Self::Stop(_) => "stop",
            Self::Evict => "evict",
            Self::Refresh => "refresh",
            Self::Update(_) => "update",
            Self::Reboot => "reboot",
            Self::Custom(c) => c.name.as_str(),
        }
    }
}

/// The kind of backend call, for triggers and timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallKind {
    /// Finds or starts the server for a workdir.
    EnsureServer,
    /// Closes a server.
    CloseServer,
    /// Creates a session on a server.
    CreateSession,
    /// Sends a session its prompt.
    Prompt,
    /// Aborts a session's run.
    AbortSession,
    /// Opens an event stream.
    Subscribe,
    /// Lists the servers or sessions that are running.
    ListSessions,
    /// A round trip to the gastown worker (the historical models only).
    Worker,
}

impl CallKind {
    /// Every kind, in declaration order.
    pub const ALL: [CallKind; 8] = [
        Self::EnsureServer,
        Self::CloseServer,
        Self::CreateSession,
        Self::Prompt,
        Self::AbortSession,
        Self::Subscribe,
        Self::ListSessions,
        Self::Worker,
    ];
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
            Self::ListSessions => "list_sessions",
            Self::Worker => "worker",
        })
    }
}

/// When an operation is issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// At this simulated millisecond.
    At(u64),
    /// As soon as a call of this kind made on behalf of this agent is in flight (for building
    /// a known race on purpose).
    WhilePending(CallKind, AgentIx),
}

/// One operation of a workload, and when it is issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// What is asked.
    pub kind: OpKind,
    /// When it is asked.
    pub when: Trigger,
}
/// The agents, their workdirs, and the operations of one scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    into = "super::workload_text::WorkloadText",
    try_from = "super::workload_text::WorkloadText"
)]
pub struct Workload {
    /// `workdirs[i]` is the workdir index of agent `i`.
    pub workdirs: Vec<u8>,
    /// The operations, in the order they are issued.
    pub ops: Vec<Op>,
    /// The kinds it was drawn with (all, for hand-written workloads).
    pub mix: OpMix,
}

/// Bounds for generated workloads.
#[derive(Clone, Debug)]
pub struct WorkloadShape {
    /// The fewest agents.
    pub min_agents: u8,
    /// The most agents.
    pub max_agents: u8,
    /// The most workdirs, when agents may share them.
    pub max_workdirs: u8,
    /// Whether distinct agents may share a workdir (and so a server). The real roles do only
    /// in the triage and mayor workspaces (POST, LATEST); a polecat's or refinery's worktree is
    /// its own (per agent and bead), and PRE has no triage workspace. Off by default: each
    /// agent gets its own workdir, and a finding that needs a shared one says so.
    pub shared_workdirs: bool,
    /// The fewest operations.
    pub min_ops: u32,
    /// The most operations.
    pub max_ops: u32,
    /// Operations are issued within `0..=window_ms`.
    pub window_ms: u32,
}

impl Default for WorkloadShape {
    fn default() -> Self {
        Self {
            min_agents: 2,
            max_agents: 3,
            max_workdirs: 2,
            shared_workdirs: false,
            min_ops: 2,
            max_ops: 8,
            window_ms: 60,
        }
    }
}

impl Workload {
    /// Whether two distinct agents share a workdir (and so a server).
    pub fn shares_workdirs(&self) -> bool {
        let w = &self.workdirs;
        (1..w.len()).any(|i| w[..i].contains(&w[i]))
    }

    /// A workload within `shape`, of the kinds in `mix` (with the subject's own operations
    /// `custom`), drawn from `d`.
    pub fn generate(
        shape: &WorkloadShape,
        mix: OpMix,
        custom: &[OpDecl],
        d: &mut Decisions,
    ) -> Self {
        let min_agents = shape.min_agents.max(1);
        let agents = d.between(
            u32::from(min_agents),
            u32::from(shape.max_agents.max(min_agents)),
        ) as u8;
        let workdirs = if shape.shared_workdirs {
            let workdirs_n = d.between(1, u32::from(shape.max_workdirs.max(1)));
            (0..agents).map(|_| d.below(workdirs_n) as u8).collect()
        } else {
            (0..agents).collect()
        };
        let min_ops = shape.min_ops.max(1);
        let n_ops = d.between(min_ops, shape.max_ops.max(min_ops));
        // Weighted kinds: plain starts dominate; evictions, which end everything, are rare.
        // The kinds added later come after the first four, so a mix without them draws what
        // it always drew.
        let mut kinds: Vec<(u32, u8)> = vec![(4, 0)];
        kinds.extend(
            [(2, 1), (2, 2), (1, 3), (1, 4), (2, 5), (1, 6)]
                .into_iter()
                .filter(|&(_, k)| match k {
                    1 => mix.restarts,
                    2 => mix.stops,
                    3 => mix.evicts,
                    4 => mix.refreshes,
                    5 => mix.updates,
                    _ => mix.reboots,
                }),
        );
        if mix.custom {
            kinds.extend(
                custom
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.weight > 0)
                    .map(|(i, c)| (c.weight, 7 + i as u8)),
            );
        }
        let total: u32 = kinds.iter().map(|&(w, _)| w).sum();
        let mut ops: Vec<(u64, OpKind)> = Vec::new();
        for _ in 0..n_ops {
            let mut pick = d.below(total);
            let kind = kinds
                .iter()
                .find(|&&(w, _)| {
                    let hit = pick < w;
                    pick = pick.saturating_sub(w);
                    hit
                })
                .map(|&(_, k)| k)
                .expect("pick < total");
            let agent = d.below(u32::from(agents)) as AgentIx;
            let at = u64::from(d.below(shape.window_ms + 1));
            let earlier_starts: Vec<(u64, AgentIx)> = ops
                .iter()
                .filter_map(|&(t, k)| match k {
                    OpKind::Start(a) => Some((t, a)),
                    _ => None,
                })
                .collect();
            ops.push(match kind {
                1 if !earlier_starts.is_empty() => {
                    let (t, a) = earlier_starts[d.below(earlier_starts.len() as u32) as usize];
                    (t + u64::from(d.below(25)), OpKind::Start(a))
                }
                0 | 1 => (at, OpKind::Start(agent)),
                2 => (at, OpKind::Stop(agent)),
                3 => (at, OpKind::Evict),
                4 => (at, OpKind::Refresh),
                5 => (at, OpKind::Update(agent)),
                6 => (at, OpKind::Reboot),
                k => {
                    let c = custom[usize::from(k - 7)];
                    let arg = if c.args > 1 {
                        d.below(u32::from(c.args)) as u8
                    } else {
                        0
                    };
                    let custom = CustomOp {
                        name: c.name,
                        agent: c.per_agent.then_some(agent),
                        arg,
                    };
                    (at, OpKind::Custom(custom))
                }
            });
        }
        // Stable sort: operations due at the same millisecond keep their drawn order.
        ops.sort_by_key(|&(t, _)| t);
        Self {
            workdirs,
            ops: ops
                .into_iter()
                .map(|(t, kind)| Op {
                    kind,
                    when: Trigger::At(t),
                })
                .collect(),
            mix,
        }
    }

    /// How many agents it has.
    pub fn agents(&self) -> usize {
        self.workdirs.len()
    }
}
