//! Eviction's close of every server running, the ones the manager knows and the ones an
//! ambiguous `ensure_server` started without its hearing of them.

use std::collections::BTreeMap;

use super::Servers;
use crate::ambiguity::Ambiguity;
use crate::backend::{BackendError, ServerId, SessionBackend, Workdir};
use crate::point;

impl Servers {
    /// Eviction: closes every server running now, known or not (every agent is torn down by
    /// then). Each is the manager's until closed, so the snapshot reports what it could not close.
    pub(crate) async fn close_running<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
    ) -> Result<(), BackendError> {
        let known: Vec<(ServerId, Workdir)> = {
            let mut workdirs = self.workdirs();
            let mut known = Vec::new();
            for (workdir, entry) in workdirs.iter_mut() {
                entry.current = None;
                // Kept until closed, as in `close_unclosed`.
                known.extend(
                    entry
                        .unclosed
                        .iter()
                        .map(|&server| (server, workdir.clone())),
                );
            }
            known
        };
        let running = match ask.ask(backend.list_servers()).await {
            Ok(running) => running,
            Err((e, _)) => return Err(e),
        };
        let mut all: BTreeMap<ServerId, Workdir> = known.into_iter().collect();
        let known_servers = self.snapshot();
        for (server, workdir) in running {
            if !known_servers.iter().any(|s| s.server == server) {
                point!("lease.eviction_closed_unknown");
            }
            all.insert(server, workdir);
        }
        // The manager's until closed, as in `close_unclosed`: an eviction that gives up, or is
        // given up on, still reports what it could not close.
        {
            let mut workdirs = self.workdirs();
            for (server, workdir) in &all {
                workdirs
                    .entry(workdir.clone())
                    .or_default()
                    .unclosed
                    .insert(*server);
            }
        }
        let mut outcome = Ok(());
        for (server, workdir) in all {
            if let Err(e) = self.close_kept(backend, ask, server, &workdir).await {
                outcome = Err(e);
            }
        }
        outcome
    }
}
