//! I3 at the moment a server is closed: no live session a live record still runs may need it.

use agent_lifecycle::Status;

use super::watch::Watch;
use super::{Invariant, Violation};
use crate::world::Closing;

/// I3, judged when a server closes.
pub(super) struct ClosedUnderSession;

impl Watch for ClosedUnderSession {
    fn on_close(&mut self, closing: &Closing) -> Result<(), Violation> {
        check_close(closing)
    }
}

/// I3: a server may close only when no live session still needs it. A Stopping record's
/// session is on its way out: closing its server is what the stop wants, so only Starting and
/// Running records need their server.
pub fn check_close(closing: &Closing) -> Result<(), Violation> {
    let server = closing.server;
    let needed = closing.snapshot.agents.iter().find(|r| {
        matches!(r.status, Status::Starting | Status::Running)
            && r.session
                .is_some_and(|s| closing.live_on_server.contains(&s))
    });
    match needed {
        Some(r) => {
            let session = r.session.expect("found by its session");
            Err(Violation::new(
                Invariant::I3,
                format!(
                    "{server} was closed while agent {}'s {:?} record still ran {session} on it",
                    r.agent, r.status
                ),
                vec![session],
            ))
        }
        None => Ok(()),
    }
}
