//! The container host of a system run: the product's control server (router, heartbeats)
//! over a manager on the fake backend, with each HTTP request made a workload operation of
//! the harness: its backend calls are attributed to it, and the checker sees it in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{Lifecycle, LifecycleError, ManagerConfig, RequestContext};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use control_server::{
    Control, Registry, StartBody, StopRoute, TownClient, router, send_heartbeats,
};
use tokio::sync::Notify;

use super::attributed::Attributed;
use super::dialer::Dialer;
use super::registry::SimRegistry;
use super::serve;
use crate::run::panics::snapshot_of;
use crate::scenario::names::agent_of;
use crate::scenario::workload::OpKind;
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::OpId;
use crate::world::mailbox::Notice;
use crate::world::{AtReturn, Began, RunEvent, World};

/// The control operations the container has seen: their numbers, and for S3 each start's
/// dispatch. What the checker judges goes into the world's event stream.
#[derive(Default)]
pub struct Requests {
    next: OpId,
    /// Each start's dispatch id and whether it answered `started`.
    pub dispatches: Vec<(OpId, String, bool)>,
    /// The container's drain (on SIGTERM) has returned.
    pub drained: bool,
}

/// Numbers a new operation of the container's and reports it to the checker with what it
/// meets (`hydration`: boot hydration's start).
pub fn begin(
    world: &Arc<Mutex<World>>,
    requests: &SharedRequests,
    kind: OpKind,
    hydration: bool,
) -> OpId {
    let op = {
        let mut r = lock_requests(requests);
        let op = r.next;
        r.next += 1;
        op
    };
    let mut w = lock(world);
    w.sync_clock();
    let snapshot = snapshot_of(&w);
    let faults_off = w.faults_off();
    w.report(RunEvent::Began(Began {
        op,
        kind,
        hydration,
        snapshot,
        faults_off,
    }));
    op
}

pub type SharedRequests = Arc<Mutex<Requests>>;

pub fn lock_requests(r: &SharedRequests) -> std::sync::MutexGuard<'_, Requests> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// `a3` is agent 3 of the scenario.
pub fn agent_index(name: &str) -> Option<u8> {
    name.strip_prefix('a')?.parse().ok()
}

/// What every boot of the container host is given; it outlives each boot.
pub struct ContainerSetup {
    pub world: Arc<Mutex<World>>,
    pub requests: SharedRequests,
    pub config: ManagerConfig,
    pub heartbeat: Duration,
    pub heartbeat_phase: Duration,
    /// Each control request runs to its end whatever its client does (a JS handler).
    pub detach: bool,
    pub registry: SimRegistry,
    pub stop_route: StopRoute,
    pub dialer: Dialer,
    /// SIGTERM: the container drains (its eviction), and says when it is done.
    pub sigterm: Arc<Notify>,
}

/// The container's software for one boot: the manager, the control server, heartbeats, boot
/// hydration from the registry, and the drain on SIGTERM.
pub async fn system_container<M: Lifecycle<FakeBackend>>(
    setup: Arc<ContainerSetup>,
    boot: String,
) -> turmoil::Result {
    let world = setup.world.clone();
    let (manager, mut notices) = crate::run::container::boot::<M>(&world, setup.config.clone());
    let delivering = world.clone();
    tokio::task::spawn_local(async move {
        while let Some(batch) = notices.recv().await {
            for notice in batch {
                match notice {
                    Notice::Arrival(..) => unreachable!("system operations arrive over HTTP"),
                    other => other.deliver_in_container(&delivering),
                }
            }
        }
    });
    let attributed = Attributed::around(manager, world.clone(), setup.requests.clone());
    let registry = Box::new(setup.registry.clone());
    let control = Control::with_stop_route(Arc::new(attributed), registry, setup.stop_route);
    let beating = control.clone();
    let (phase, every, dialer) = (setup.heartbeat_phase, setup.heartbeat, setup.dialer.clone());
    let heartbeats = tokio::spawn(async move {
        tokio::time::sleep(phase).await;
        let town = TownClient::new(move || dialer.clone().town());
        send_heartbeats(beating, town, every, boot).await;
    });
    // SIGTERM: heartbeats stop, then the drain (`docs/real-system.md` control server).
    let (draining, sigterm, requests) = (
        control.clone(),
        setup.sigterm.clone(),
        setup.requests.clone(),
    );
    tokio::spawn(async move {
        sigterm.notified().await;
        heartbeats.abort();
        let _ = draining.evict().await;
        lock_requests(&requests).drained = true;
    });
    if !setup.registry.is_none() {
        let hydrating = control.clone();
        tokio::spawn(async move { hydrating.hydrate().await });
    }
    let (requests, detach) = (setup.requests.clone(), setup.detach);
    let served = router(control).layer(axum::middleware::from_fn(move |req, next| {
        attribute(world.clone(), requests.clone(), detach, req, next)
    }));
    serve(served).await?;
    Ok(())
}

/// Ends an operation when the handler is dropped with its connection.
pub(super) struct Pending {
    world: Arc<Mutex<World>>,
    op: OpId,
    pub(super) done: bool,
}

impl Pending {
    pub(super) fn new(world: Arc<Mutex<World>>, op: OpId) -> Self {
        Self {
            world,
            op,
            done: false,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let mut w = lock(&self.world);
            w.report(RunEvent::Dropped(self.op));
            w.poke();
        }
    }
}

/// Makes a control request a workload operation: numbered, seen in flight, its backend calls
/// attributed to it, its end recorded with what it answered.
async fn attribute(
    world: Arc<Mutex<World>>,
    requests: SharedRequests,
    detach: bool,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let (req, kind, dispatch) = match classify(req, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(kind) = kind else {
        return next.run(req).await;
    };
    let op = begin(&world, &requests, kind, false);
    let agent = agent_of(kind);
    let context = RequestContext {
        id: u64::from(op),
        agent,
    };
    let (ended_world, ended_requests) = (world.clone(), requests.clone());
    let handling = async move {
        let response = context.scope(next.run(req)).await;
        ended(
            &ended_world,
            &ended_requests,
            op,
            kind,
            dispatch,
            response.status(),
        );
        response
    };
    if detach {
        // The handler runs in a task of its own, and records its own end: dropping this
        // request does not stop it.
        return match tokio::spawn(handling).await {
            Ok(response) => response,
            Err(_) => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("the handler died"))
                .expect("a response"),
        };
    }
    let mut pending = Pending::new(world, op);
    let response = handling.await;
    pending.done = true;
    response
}

/// Records what a request answered.
fn ended(
    world: &Arc<Mutex<World>>,
    requests: &SharedRequests,
    op: OpId,
    kind: OpKind,
    dispatch: Option<String>,
    status: StatusCode,
) {
    let result = match status {
        StatusCode::OK => Ok(()),
        StatusCode::SERVICE_UNAVAILABLE => Err(LifecycleError::Evicting),
        StatusCode::CONFLICT => Err(LifecycleError::Cancelled),
        StatusCode::NOT_IMPLEMENTED => Err(LifecycleError::Unsupported),
        other => Err(LifecycleError::Backend(
            agent_lifecycle::BackendError::Failed(format!("HTTP {other}")),
        )),
    };
    record_end(world, requests, op, kind, dispatch, result);
}

/// Records what an operation ended with.
pub(super) fn record_end(
    world: &Arc<Mutex<World>>,
    requests: &SharedRequests,
    op: OpId,
    kind: OpKind,
    dispatch: Option<String>,
    result: Result<(), LifecycleError>,
) {
    if let Some(dispatch) = dispatch {
        lock_requests(requests)
            .dispatches
            .push((op, dispatch, result.is_ok()));
    }
    let mut w = lock(world);
    w.sync_clock();
    let at = AtReturn::of(
        snapshot_of(&w),
        &w.ledger,
        agent_of(kind).as_ref(),
        w.now_ms,
    );
    w.report(RunEvent::Returned { op, result, at });
    w.poke();
}

/// The operation a request is (none for status and health), and a start's dispatch id.
async fn classify(
    req: Request,
    path: &str,
) -> Result<(Request, Option<OpKind>, Option<String>), Response> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["agents", "start"] => {
            let (head, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .map_err(|_| bad_request())?;
            let start: StartBody = serde_json::from_slice(&bytes).map_err(|_| bad_request())?;
            let kind = agent_index(&start.agent).map(OpKind::Start);
            Ok((
                Request::from_parts(head, Body::from(bytes)),
                kind,
                start.dispatch,
            ))
        }
        ["agents", id, "stop"] => {
            let kind = agent_index(id).map(OpKind::Stop);
            Ok((req, kind, None))
        }
        _ => Ok((req, None, None)),
    }
}

fn bad_request() -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .body(Body::from("unreadable body"))
        .expect("a response")
}
