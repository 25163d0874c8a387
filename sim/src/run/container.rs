//! The container's software: a fresh manager each boot, one task per operation, and what
//! each operation left when it returned.

use super::clockwork::{Clockwork, run_clockwork};
use std::sync::{Arc, Mutex};

use agent_lifecycle::{Lifecycle, ManagerConfig};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::operation::{Call, UserOperation};
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::OpId;
use crate::world::history::What;
use crate::world::mailbox::Notice;
use crate::world::{AtReturn, Command, RunEvent, World};

/// A fresh manager on the fake backend, wired to the world: its notices arrive on the
/// returned receiver, and the checker reads its snapshot.
pub(crate) fn boot<M: Lifecycle<FakeBackend>>(
    world: &Arc<Mutex<World>>,
    config: ManagerConfig,
) -> (Arc<M>, UnboundedReceiver<Vec<Notice>>) {
    let manager = Arc::new(M::new(FakeBackend::new(world.clone()), config));
    let (inbox, notices) = unbounded_channel::<Vec<Notice>>();
    let mut w = lock(world);
    w.inbox = Some(inbox);
    let observed = manager.clone();
    w.snapshot = Some(Arc::new(move || observed.snapshot()));
    let persisting = manager.clone();
    w.registry = Some(Arc::new(move || persisting.registry()));
    (manager, notices)
}

/// The container's software: a fresh manager each boot, one task per command.
pub(super) async fn container<M: Lifecycle<FakeBackend>>(
    world: Arc<Mutex<World>>,
    config: ManagerConfig,
    clockwork: Option<Arc<Clockwork>>,
    operations: Arc<[UserOperation]>,
) -> turmoil::Result {
    let (manager, mut notices) = boot::<M>(&world, config);
    if let Some(clockwork) = clockwork {
        tokio::task::spawn_local(run_clockwork(clockwork));
    }
    // A reboot's boot: hydration runs as the reboot operation, beside what arrives.
    let rebooted = {
        let mut w = lock(&world);
        w.rebooted
            .take()
            .map(|op| (op, std::mem::take(&mut w.persisted)))
    };
    if let Some((op, registry)) = rebooted {
        {
            let mut w = lock(&world);
            let agents: Vec<String> = registry.iter().map(|r| r.agent.to_string()).collect();
            let what = format!("boot hydration of [{}] (op#{op})", agents.join(", "));
            let now = w.now_ms;
            w.history.push(now, None, What::Container(what));
        }
        spawn_operation(
            &manager,
            &world,
            op,
            Command::Hydrate(registry),
            &operations,
        );
    }
    // Each batch is delivered in its order: every delivery wakes or spawns its task at the
    // back of tokio's FIFO run queue, so the tasks resume in the order the world drew.
    while let Some(batch) = notices.recv().await {
        for notice in batch {
            match notice {
                Notice::Arrival(op, command) => {
                    spawn_operation(&manager, &world, op, command, &operations);
                }
                other => other.deliver_in_container(&world),
            }
        }
    }
    Ok(())
}

/// Runs one operation in a task of its own, as the container's HTTP server runs a request's
/// handler; its caller may go away (the `drops` family).
pub(super) fn spawn_operation<M: Lifecycle<FakeBackend>>(
    manager: &Arc<M>,
    world: &Arc<Mutex<World>>,
    op: OpId,
    command: Command,
    operations: &[UserOperation],
) {
    let manager = manager.clone();
    let world = world.clone();
    let agent = match &command {
        Command::Start(request) => Some(request.agent.clone()),
        Command::Stop(agent) | Command::Update(agent, _) => Some(agent.clone()),
        Command::Custom(_, agent) => agent.clone(),
        Command::Evict | Command::Refresh | Command::Hydrate(_) => None,
    };
    let custom = match &command {
        Command::Custom(call, _) => Some(
            operations
                .iter()
                .find(|o| o.decl.name == call.name)
                .and_then(|o| o.invoker::<M>())
                .cloned()
                .unwrap_or_else(|| {
                    panic!(
                        "the workload calls `{}`, which this subject does not declare",
                        call.name
                    )
                }),
        ),
        _ => None,
    };
    let of = agent.clone();
    let dropper = lock(&world).drop_signal(op);
    let task = async move {
        let operation = async {
            match command {
                Command::Start(request) => manager.start(request).await,
                Command::Stop(agent) => manager.stop(&agent).await,
                Command::Evict => manager.evict().await,
                Command::Refresh => manager.refresh().await,
                Command::Update(agent, config) => manager.update(&agent, &config).await,
                Command::Hydrate(registry) => manager.hydrate(registry).await,
                Command::Custom(call, agent) => {
                    let invoke = custom.expect("found above");
                    let call = Call {
                        name: call.name,
                        agent,
                        arg: call.arg,
                    };
                    invoke(manager.clone(), call).await
                }
            }
        };
        let result = match dropper {
            None => operation.await,
            Some(dropper) => tokio::select! {
                biased;
                // The caller went away: the operation's future is dropped where it is.
                _ = dropper.notified() => {
                    let mut w = lock(&world);
                    w.sync_clock();
                    w.report(RunEvent::Dropped(op));
                    w.poke();
                    return;
                }
                result = operation => result,
            },
        };
        // What the operation left, before any other task runs.
        let snapshot = manager.snapshot();
        let mut w = lock(&world);
        w.sync_clock();
        let at = AtReturn::of(snapshot, &w.ledger, of.as_ref(), w.now_ms);
        w.report(RunEvent::Returned { op, result, at });
        w.poke();
    };
    let context = agent_lifecycle::RequestContext {
        id: u64::from(op),
        agent,
    };
    tokio::task::spawn_local(context.scope(task));
}
