//! A subject's own invariants: checked with I1-I8 after every step, on the same view.

use std::fmt;
use std::sync::Arc;

use super::watch::Watch;
use super::{Invariant, View, Violation};

type Check = dyn Fn(&View) -> Result<(), String> + Send + Sync;

/// An invariant of the user's: a name (its code in reports and case files) and a check that
/// sees what the built-in checker sees after each step (the ledger of what is live, the
/// manager's snapshot, the operations in flight) and returns why it failed.
#[derive(Clone)]
pub struct UserInvariant {
    /// Its code in reports and case files.
    pub name: &'static str,
    check: Arc<Check>,
}

impl UserInvariant {
    /// An invariant called `name`, judged by `check` on every view.
    pub fn new(
        name: &'static str,
        check: impl Fn(&View) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            check: Arc::new(check),
        }
    }

    /// Judges `view`.
    pub fn check(&self, view: &View) -> Result<(), Violation> {
        (self.check)(view)
            .map_err(|detail| Violation::new(Invariant::User(self.name), detail, Vec::new()))
    }
}

impl fmt::Debug for UserInvariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserInvariant({})", self.name)
    }
}

/// The subject's own invariants, judged on every view in the order they were given.
pub(super) struct Users(pub(super) Vec<UserInvariant>);

impl Watch for Users {
    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        self.0
            .iter()
            .try_for_each(|invariant| invariant.check(view))
    }
}
