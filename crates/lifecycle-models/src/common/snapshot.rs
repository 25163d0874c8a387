//! What the harness observes: the module state as a [`Snapshot`], with each side entry (idle
//! timer, stream slot, subscription) attributed to the record it belongs to.

use agent_lifecycle::{AgentSnapshot, ServerSnapshot, SideKind, SideSnapshot, Snapshot};

use super::{Core, lock};
use crate::sdk::KiloSdk;

impl<B: KiloSdk> Core<B> {
    pub fn snapshot(&self) -> Snapshot {
        let table = self.table();
        let owner_of = |id: u64| {
            table
                .controller_owner
                .iter()
                .find(|(c, _)| *c == id)
                .map_or(0, |(_, owner)| *owner)
        };
        let mut side: Vec<SideSnapshot> = Vec::new();
        for (agent, timer) in &table.idle_timers {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::IdleTimer,
                incarnation: lock(&timer.on_exit.0).serial,
            });
        }
        for (agent, (id, _)) in &table.controllers {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::StreamSlot,
                incarnation: owner_of(*id),
            });
        }
        // An aborted stream breaks at its next event without handling it (its `finally` still
        // runs, and what that does to a later incarnation shows in that one's entries).
        for (_, agent, owner, _) in table.subscriptions.iter().filter(|s| !s.3.is_cancelled()) {
            side.push(SideSnapshot {
                agent: agent.clone(),
                kind: SideKind::Subscription,
                incarnation: *owner,
            });
        }
        side.sort();
        Snapshot {
            side,
            agents: {
                let mut agents: Vec<AgentSnapshot> = table
                    .agents
                    .iter()
                    .map(|(agent, record)| {
                        let r = lock(record);
                        AgentSnapshot {
                            agent: agent.clone(),
                            incarnation: r.serial,
                            status: r.status,
                            session: r.session,
                            suspect_on: None,
                        }
                    })
                    .collect();
                agents.sort_by(|a, b| a.agent.cmp(&b.agent));
                agents
            },
            servers: {
                let mut servers: Vec<ServerSnapshot> = table
                    .instances
                    .iter()
                    .map(|(workdir, inst)| {
                        let i = lock(inst);
                        ServerSnapshot {
                            workdir: workdir.clone(),
                            server: i.server,
                            count: i.count,
                        }
                    })
                    .collect();
                servers.sort_by(|a, b| (&a.workdir, a.server).cmp(&(&b.workdir, b.server)));
                servers
            },
        }
    }
}
