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
use control_server::{Control, StartBody, TownClient, router, send_heartbeats};

use super::{connect_town, serve};
use crate::scenario::names::agent_of;
use crate::scenario::workload::OpKind;
use crate::world::World;
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::OpId;
use crate::world::mailbox::Notice;

/// The control operations the container has seen, for the checker and for S3.
#[derive(Default)]
pub struct Requests {
    next: OpId,
    pub arrived: Vec<(OpId, OpKind)>,
    pub ended: Vec<(OpId, OpKind, Result<(), LifecycleError>)>,
    pub dropped: Vec<(OpId, OpKind)>,
    /// Each start's dispatch id and whether it answered `started`.
    pub dispatches: Vec<(OpId, String, bool)>,
}

pub type SharedRequests = Arc<Mutex<Requests>>;

pub fn lock_requests(r: &SharedRequests) -> std::sync::MutexGuard<'_, Requests> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// `a3` is agent 3 of the scenario.
pub fn agent_index(name: &str) -> Option<u8> {
    name.strip_prefix('a')?.parse().ok()
}

/// The container's software for one boot.
pub async fn system_container<M: Lifecycle<FakeBackend>>(
    world: Arc<Mutex<World>>,
    requests: SharedRequests,
    config: ManagerConfig,
    heartbeat: Duration,
    heartbeat_phase: Duration,
    boot: String,
    detach: bool,
) -> turmoil::Result {
    let (manager, mut notices) = crate::run::container::boot::<M>(&world, config);
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
    let control = Control::new(manager);
    let beating = control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(heartbeat_phase).await;
        send_heartbeats(beating, TownClient::new(connect_town), heartbeat, boot).await;
    });
    let attributed = router(control).layer(axum::middleware::from_fn(move |req, next| {
        attribute(world.clone(), requests.clone(), detach, req, next)
    }));
    serve(attributed).await?;
    Ok(())
}

/// Ends an operation when the handler is dropped with its connection.
struct Pending {
    requests: SharedRequests,
    world: Arc<Mutex<World>>,
    op: OpId,
    kind: OpKind,
    done: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            lock_requests(&self.requests)
                .dropped
                .push((self.op, self.kind));
            lock(&self.world).poke();
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
    let op = {
        let mut r = lock_requests(&requests);
        let op = r.next;
        r.next += 1;
        r.arrived.push((op, kind));
        op
    };
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
    let mut pending = Pending {
        requests,
        world,
        op,
        kind,
        done: false,
    };
    let response = handling.await;
    pending.done = true;
    response
}

/// Records what an operation answered.
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
        other => Err(LifecycleError::Backend(
            agent_lifecycle::BackendError::Failed(format!("HTTP {other}")),
        )),
    };
    let mut r = lock_requests(requests);
    if let Some(dispatch) = dispatch {
        r.dispatches.push((op, dispatch, status == StatusCode::OK));
    }
    r.ended.push((op, kind, result));
    drop(r);
    let mut w = lock(world);
    w.sync_clock();
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
