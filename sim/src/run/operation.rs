//! Operations a subject declares of its own: a manager has more entry points than start,
//! stop and evict (send a message, rotate a credential, resize a pool), and each is
//! generated, explored, shrunk, replayed, saved and covered like the built-in ones.
//!
//! A declaration is data the generator reads ([`OpDecl`]: its name, whether it concerns an
//! agent, how many arguments it takes) and a closure the container runs, in a task of its
//! own, as it runs a start.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use agent_lifecycle::{AgentId, LifecycleError};

use crate::scenario::workload::{OpDecl, OpName};

/// One call of a custom operation, as its closure gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The operation's name.
    pub name: OpName,
    /// The agent it concerns (`None` for an operation declared without [`Operation::per_agent`]).
    pub agent: Option<AgentId>,
    /// Its argument, below [`Operation::args`] (0 when it takes none).
    pub arg: u8,
}

type Reply = Pin<Box<dyn Future<Output = Result<(), LifecycleError>> + Send>>;

/// How the container invokes an operation on a manager `M`.
pub(crate) type Invoke<M> = Arc<dyn Fn(Arc<M>, Call) -> Reply + Send + Sync>;

/// An operation of a subject's own, on its manager `M`.
///
/// ```
/// use agent_lifecycle::AgentManager;
/// use lifecycle_sim::{FakeBackend, Manager, Operation};
///
/// // "nudge" concerns one agent, takes one of 3 arguments, and its caller always waits.
/// let nudge = Operation::new("nudge", |manager: std::sync::Arc<AgentManager<FakeBackend>>, call| async move {
///     let _ = (manager, call.agent, call.arg);
///     Ok(())
/// })
/// .per_agent()
/// .args(3)
/// .caller_waits();
/// let subject = Manager::<AgentManager<FakeBackend>>::new("mine").operation(nudge);
/// # let _ = subject;
/// ```
pub struct Operation<M> {
    decl: OpDecl,
    waits: bool,
    invoke: Invoke<M>,
}

impl<M: Send + Sync + 'static> Operation<M> {
    /// An operation called `name` (one word; not a built-in operation's), which runs `invoke`
    /// on the manager. By default it concerns the whole container, takes no argument, weighs
    /// as much as a stop (2) among the drawn kinds, and its caller may go away mid-call.
    ///
    /// # Panics
    ///
    /// If `name` cannot name an operation: it must be one word of letters, digits, `-` and
    /// `_`, starting with a letter, and not a built-in operation's name, `at`, `while`,
    /// `custom` or an agent's (`a0`).
    pub fn new<F, Fut>(name: &str, invoke: F) -> Self
    where
        F: Fn(Arc<M>, Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), LifecycleError>> + Send + 'static,
    {
        assert!(
            crate::scenario::workload_text::is_custom_name(name),
            "`{name}` cannot name an operation: one word, starting with a letter, not start, \
             stop, evict, refresh, update, reboot, at, while, custom or aN"
        );
        Self {
            decl: OpDecl {
                name: OpName::new(name),
                per_agent: false,
                args: 0,
                weight: 2,
            },
            waits: false,
            invoke: Arc::new(move |m, call| Box::pin(invoke(m, call))),
        }
    }

    /// It concerns one agent, drawn like a stop's.
    pub fn per_agent(mut self) -> Self {
        self.decl.per_agent = true;
        self
    }

    /// It takes one of `n` arguments (`0..n`), drawn for each call.
    pub fn args(mut self, n: u8) -> Self {
        self.decl.args = n;
        self
    }

    /// Its weight among the drawn kinds (a start weighs 4, a stop 2, an eviction 1; 0 never
    /// draws it, and only stories use it).
    pub fn weight(mut self, weight: u32) -> Self {
        self.decl.weight = weight;
        self
    }

    /// Its callers always wait for its end (it is never dropped mid-call).
    pub fn caller_waits(mut self) -> Self {
        self.waits = true;
        self
    }

    pub(crate) fn erase(self) -> UserOperation {
        UserOperation {
            decl: self.decl,
            waits: self.waits,
            invoke: Arc::new(self.invoke),
        }
    }
}

/// An operation with its manager type erased, as a [`RunConfig`] keeps it.
///
/// [`RunConfig`]: super::RunConfig
#[derive(Clone)]
pub struct UserOperation {
    pub(crate) decl: OpDecl,
    pub(crate) waits: bool,
    /// An [`Invoke<M>`] of the subject's manager.
    invoke: Arc<dyn Any + Send + Sync>,
}

impl UserOperation {
    /// What the generator reads of it.
    pub fn decl(&self) -> OpDecl {
        self.decl
    }

    /// How to invoke it on a manager `M`: `None` if it was declared for another manager.
    pub(crate) fn invoker<M: 'static>(&self) -> Option<&Invoke<M>> {
        self.invoke.downcast_ref::<Invoke<M>>()
    }
}

impl fmt::Debug for UserOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserOperation")
            .field("decl", &self.decl)
            .field("waits", &self.waits)
            .finish_non_exhaustive()
    }
}
