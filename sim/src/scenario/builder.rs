//! Scenarios written the way a bug report tells them: who starts, stops or evicts what, and
//! when ("a0 is restarted while its create is in flight").

use crate::scenario::faults::FaultConfig;
use crate::scenario::spec::Strategy;
use crate::scenario::spec::{STEPPING_VERSION, ScenarioSpec, Timing, VERSION};
use crate::scenario::workload::{
    AgentIx, CallKind, CustomOp, Op, OpKind, OpMix, OpName, Trigger, Workload,
};

/// A hand-written scenario. Agents are named `a0`, `a1`, ... in the order [`Story::agents`]
/// lists them, and share one workdir (one server) unless placed apart. Each operation arrives
/// when the one before it did (time 0 for the first) unless [`Story::at_ms`] or
/// [`Story::while_pending`] says otherwise.
///
/// ```
/// use lifecycle_sim::Story;
/// use lifecycle_sim::scenario::workload::CallKind;
///
/// // #1341: a0 is started, and started again while its session is being created.
/// let story = Story::new()
///     .agents(["a0", "a1"])
///     .start("a1").at_ms(0)
///     .start("a0").at_ms(30)
///     .start("a0").while_pending(CallKind::CreateSession, "a0");
/// assert_eq!(story.spec().workload.ops.len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Story {
    workdirs: Vec<u8>,
    ops: Vec<Op>,
    faults: FaultConfig,
    timing: Timing,
    version: u32,
}

impl Default for Story {
    fn default() -> Self {
        Self::new()
    }
}

impl Story {
    /// No agents, no operations, no faults, the default clocks.
    pub fn new() -> Self {
        Self {
            workdirs: Vec::new(),
            ops: Vec::new(),
            faults: FaultConfig::none(),
            timing: Timing::default(),
            version: VERSION,
        }
    }

    /// The scenario's agents, all in workdir `w0`. They must be named `a0`, `a1`, ... in order
    /// (the names every timeline and case file uses).
    pub fn agents<const N: usize>(mut self, names: [&str; N]) -> Self {
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                *name,
                format!("a{i}"),
                "agents are named a0, a1, ... in order; agent {i} is a{i}, not {name}"
            );
        }
        self.workdirs = vec![0; N];
        self
    }

    /// Puts `agent` in workdir `w{workdir}`: agents in different workdirs use different
    /// servers.
    pub fn in_workdir(mut self, agent: &str, workdir: u8) -> Self {
        let ix = self.ix(agent);
        self.workdirs[usize::from(ix)] = workdir;
        self
    }

    /// Each agent in a workdir of its own.
    pub fn apart(mut self) -> Self {
        for (i, w) in self.workdirs.iter_mut().enumerate() {
            *w = i as u8;
        }
        self
    }

    /// Starts `agent` (a restart if it is already starting or running).
    pub fn start(self, agent: &str) -> Self {
        let ix = self.ix(agent);
        self.then(OpKind::Start(ix))
    }

    /// Stops `agent`.
    pub fn stop(self, agent: &str) -> Self {
        let ix = self.ix(agent);
        self.then(OpKind::Stop(ix))
    }

    /// Container shutdown: stops everything and closes every server.
    pub fn evict(self) -> Self {
        self.then(OpKind::Evict)
    }

    /// Restarts every running agent's server (`Lifecycle::refresh`).
    pub fn refresh(self) -> Self {
        self.then(OpKind::Refresh)
    }

    /// Swaps `agent`'s configuration (`Lifecycle::update`).
    pub fn update(self, agent: &str) -> Self {
        let ix = self.ix(agent);
        self.then(OpKind::Update(ix))
    }

    /// The container dies and boots again, and hydrates what it persisted
    /// (`Lifecycle::hydrate`).
    pub fn reboot(self) -> Self {
        self.then(OpKind::Reboot)
    }

    /// Calls the subject's own operation `name` ([`Operation`]), about `agent` if it concerns
    /// one, with argument `arg`.
    ///
    /// [`Operation`]: crate::Operation
    pub fn call(self, name: &str, agent: Option<&str>, arg: u8) -> Self {
        assert!(
            crate::scenario::workload_text::is_custom_name(name),
            "`{name}` cannot name a custom operation"
        );
        let agent = agent.map(|a| self.ix(a));
        self.then(OpKind::Custom(CustomOp {
            name: OpName::new(name),
            agent,
            arg,
        }))
    }

    /// The last operation arrives at this simulated millisecond.
    pub fn at_ms(mut self, ms: u64) -> Self {
        self.last().when = Trigger::At(ms);
        self
    }

    /// The last operation arrives as soon as a `call` made for `agent` is in flight (and not
    /// at all if none ever is): the way to aim at a race on purpose.
    pub fn while_pending(mut self, call: CallKind, agent: &str) -> Self {
        let ix = self.ix(agent);
        self.last().when = Trigger::WhilePending(call, ix);
        self
    }

    /// The backend's faults (none by default).
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// The clocks: call latencies, timeouts, the liveness bound.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Time jumps to the next event ([`VERSION`], the default): real timing constants cost
    /// nothing, and pct, walk and dfs pay no turmoil step per step.
    pub fn time_jumps(mut self) -> Self {
        self.version = VERSION;
        self
    }

    /// One turmoil step a simulated millisecond ([`STEPPING_VERSION`]), as before time
    /// jumped: to compare with results of version 2.
    pub fn ms_steps(mut self) -> Self {
        self.version = STEPPING_VERSION;
        self
    }

    /// The scenario, run with `strategy` under the harness's current semantics.
    pub fn spec_with(&self, strategy: Strategy) -> ScenarioSpec {
        assert!(
            !self.workdirs.is_empty(),
            "a story needs its agents: Story::new().agents([\"a0\"])"
        );
        ScenarioSpec {
            workload: Workload {
                workdirs: self.workdirs.clone(),
                ops: self.ops.clone(),
                mix: OpMix::all(),
            },
            faults: self.faults,
            timing: self.timing,
            strategy,
            version: self.version,
        }
    }

    /// The scenario, with random latencies.
    pub fn spec(&self) -> ScenarioSpec {
        self.spec_with(Strategy::Random)
    }

    fn then(mut self, kind: OpKind) -> Self {
        // As the operation before it did, so that `at_ms` reads as "from then on".
        let when = match self.ops.last() {
            Some(Op {
                when: Trigger::At(t),
                ..
            }) => Trigger::At(*t),
            _ => Trigger::At(0),
        };
        self.ops.push(Op { kind, when });
        self
    }

    fn last(&mut self) -> &mut Op {
        self.ops
            .last_mut()
            .expect("at_ms and while_pending apply to the operation before them")
    }

    fn ix(&self, agent: &str) -> AgentIx {
        (0..self.workdirs.len())
            .find(|&i| agent == format!("a{i}"))
            .unwrap_or_else(|| {
                panic!(
                    "no agent {agent} in this story (it has a0..a{}); list it in .agents([...])",
                    self.workdirs.len().saturating_sub(1)
                )
            }) as AgentIx
    }
}
