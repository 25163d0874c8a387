//! Server instances (`sdkInstances`, §1-§2): one `kilo serve` child per workdir with its manual
//! session count, created by `ensureSDKServer` and closed at a count of 0.

use std::sync::{Arc, Mutex};

use agent_lifecycle::{BackendError, ServerId, Workdir, bounded, point};

use super::{Core, Instance, InstanceRef, Table, get, lock, remove, set};
use crate::sdk::KiloSdk;

impl Table {
    pub fn instance(&self, workdir: &Workdir) -> Option<InstanceRef> {
        get(&self.instances, workdir).cloned()
    }

    /// `sdkInstances.get(workdir)`, then `sessionCount++` if there is one.
    pub fn count_mapped(&mut self, workdir: &Workdir) -> bool {
        match self.instance(workdir) {
            Some(inst) => {
                lock(&inst).count += 1;
                true
            }
            None => false,
        }
    }

    /// `sdkInstances.delete(workdir)`, whatever is mapped there.
    pub fn remove_instance(&mut self, workdir: &Workdir) {
        remove(&mut self.instances, workdir);
    }

    /// PRE catch and the generic failure path: `sdkInstances.get(workdir)?.sessionCount--`
    /// on the instance mapped *now*, without closing it.
    pub fn decrement_mapped(&mut self, workdir: &Workdir) {
        if let Some(inst) = self.instance(workdir) {
            let mut i = lock(&inst);
            i.count -= 1;
            if i.count < 0 {
                point!("sdkInstances.count_went_negative");
            }
        }
    }

    /// `inst.sessionCount--; if (<= 0) { inst.server.close(); sdkInstances.delete(workdir) }`
    /// on a (possibly captured) instance; the delete is by key, whatever is mapped now.
    /// Returns the server to kill; the caller kills it once the table is unlocked.
    #[must_use]
    pub fn release(&mut self, inst: &InstanceRef, workdir: &Workdir) -> Option<ServerId> {
        let mut i = lock(inst);
        i.count -= 1;
        if i.count < 0 {
            point!("sdkInstances.count_went_negative");
        }
        if get(&self.instances, workdir).is_some_and(|mapped| !Arc::ptr_eq(mapped, inst)) {
            point!("sdkInstances.released_a_replaced_instance");
        }
        if i.count <= 0 {
            remove(&mut self.instances, workdir);
            Some(i.server)
        } else {
            None
        }
    }
}

impl<B: KiloSdk> Core<B> {
    /// `server.close()`: kills the child at once (A3). Never called with the table locked.
    pub fn kill(&self, server: Option<ServerId>) {
        if let Some(server) = server {
            self.backend.kill_server(server);
        }
    }

    /// `ensureSDKServer(workdir)` **[2nd]**: the mapped instance if any (no await); else the
    /// global lock, a re-check, `createKilo` (a *new* server), and the instance mapped with
    /// count 0. Returns the server whose client the caller goes on with.
    pub async fn ensure_sdk_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        if let Some(inst) = self.table().instance(workdir) {
            point!("ensureSDKServer.reused_mapped");
            return Ok(lock(&inst).server);
        }
        // `await previousLock` yields even when the lock is free (a microtask turn).
        tokio::task::yield_now().await;
        let _serialised = self.server_lock.lock().await;
        if let Some(inst) = self.table().instance(workdir) {
            point!("ensureSDKServer.mapped_while_waiting");
            return Ok(lock(&inst).server);
        }
        let server = bounded(self.timeout(), self.backend.spawn_server(workdir))
            .await
            .inspect_err(|_| point!("ensureSDKServer.spawn_failed"))?;
        let instance = Arc::new(Mutex::new(Instance { server, count: 0 }));
        set(&mut self.table().instances, workdir.clone(), instance);
        Ok(server)
    }
}
