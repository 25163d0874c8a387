//! Workloads: the calls the control plane makes, and when. Drawn from the decision stream, or
//! written by hand for regression tests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decisions::Decisions;

/// Index of an agent in a scenario (`a0`, `a1`, ...).
pub type AgentIx = u8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// Starts the agent; a restart when it is already Starting or Running.
    Start(AgentIx),
    Stop(AgentIx),
    /// Container shutdown; ends with a bounce of the container host.
    Evict,
}

/// The kind of backend call, for triggers and timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    EnsureServer,
    CloseServer,
    CreateSession,
    Prompt,
    AbortSession,
    Subscribe,
    ListSessions,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub kind: OpKind,
    pub when: Trigger,
}

/// Which kinds of operation a generated workload uses besides plain starts (swarm testing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpMix {
    /// Starts aimed at an agent shortly after an earlier start of it.
    pub restarts: bool,
    pub stops: bool,
    pub evicts: bool,
}

impl OpMix {
    pub fn all() -> Self {
        Self {
            restarts: true,
            stops: true,
            evicts: true,
        }
    }

    pub fn swarm(d: &mut Decisions) -> Self {
        Self {
            restarts: d.percent(50),
            stops: d.percent(50),
            evicts: d.percent(50),
        }
    }
}

impl fmt::Display for OpMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("start")?;
        for (on, name) in [
            (self.restarts, "restart"),
            (self.stops, "stop"),
            (self.evicts, "evict"),
        ] {
            if on {
                write!(f, ", {name}")?;
            }
        }
        Ok(())
    }
}

/// The agents, their workdirs, and the operations of one scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// `workdirs[i]` is the workdir index of agent `i`.
    pub workdirs: Vec<u8>,
    pub ops: Vec<Op>,
    /// The kinds it was drawn with (all, for hand-written workloads).
    pub mix: OpMix,
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
    pub fn generate(shape: &WorkloadShape, mix: OpMix, d: &mut Decisions) -> Self {
        let agents = d.between(2, u32::from(shape.max_agents.max(2))) as u8;
        let workdirs_n = d.between(1, u32::from(shape.max_workdirs.max(1)));
        let workdirs = (0..agents).map(|_| d.below(workdirs_n) as u8).collect();
        let n_ops = d.between(2, shape.max_ops.max(2));
        // Weighted kinds: plain starts dominate; evictions, which end everything, are rare.
        let mut kinds: Vec<(u32, u8)> = vec![(4, 0)];
        kinds.extend(
            [(2, 1), (2, 2), (1, 3)]
                .into_iter()
                .filter(|&(_, k)| match k {
                    1 => mix.restarts,
                    2 => mix.stops,
                    _ => mix.evicts,
                }),
        );
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
                _ => (at, OpKind::Evict),
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
