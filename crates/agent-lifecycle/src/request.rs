//! The control-plane request an operation serves. The caller (the HTTP layer) runs each
//! operation inside [`RequestContext::scope`]; the manager carries the context into the task it
//! runs the operation in ([`detached`]), so logs and backends can tell whose work a call is.
//! Background work the manager starts on its own (timers, retries) belongs to no request.

use std::future::Future;

use crate::backend::AgentId;

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Which request a piece of work serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's id for the request.
    pub id: u64,
    /// The agent it is about, if one.
    pub agent: Option<AgentId>,
}

impl RequestContext {
    /// Runs `work` as part of this request.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        REQUEST.scope(self, work).await
    }

    /// The request the current task serves, if any.
    pub fn current() -> Option<RequestContext> {
        REQUEST.try_with(Clone::clone).ok()
    }
}

/// Runs an operation in a task of its own, in the caller's request context, and waits for it.
/// Dropping the wait leaves the task running to its end, so no operation stops halfway (an
/// HTTP server drops its handler's future when the client goes away); a panic in the
/// operation is the caller's panic.
pub async fn detached<T: Send + 'static>(operation: impl Future<Output = T> + Send + 'static) -> T {
    let task = match RequestContext::current() {
        Some(context) => tokio::spawn(REQUEST.scope(context, operation)),
        None => tokio::spawn(operation),
    };
    match task.await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // The runtime is shutting down: nobody is left to answer.
            Err(_) => std::future::pending().await,
        },
    }
}
