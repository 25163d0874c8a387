//! The parts of `@kilocode/sdk` the real process manager uses that [`SessionBackend`] does not
//! offer, so the models can make the same calls the real code makes (docs/real-system.md).
//!
//! How an SDK answer reaches the real code decides its path, so the models read a
//! [`BackendError`] the way the SDK hands it over. Every model follows [`SDK_VERSION`], measured
//! against the real `kilo serve` (7.7.9 and 7.0.33; `crates/kilo-contract/recorded/`, enforced
//! by `crates/kilo-contract/tests/fake_matches_real.rs`). POST pinned 7.2.7 and later 7.3.1,
//! whose root API is the same code as 7.2.14's; PRE pinned 7.0.37, which was not available
//! (an assumption):
//! - [`BackendError::Failed`]: the server answered with an HTTP error. The SDK *returns*
//!   `{error}`: `session.abort` and `session.prompt` go on as if they succeeded;
//!   `session.create` returns no `id`, which the real code's schema check turns into a throw.
//! - [`BackendError::Gone`] and [`BackendError::Timeout`]: no answer (server dead, connection
//!   refused, or the caller's fetch gave up): the SDK *throws*.

use std::future::Future;

use agent_lifecycle::{BackendError, ServerId, SessionBackend, SessionId, Workdir};
use tokio::sync::mpsc::UnboundedReceiver;

/// The `@kilocode/sdk` version whose answers every model follows.
pub const SDK_VERSION: &str = "7.2.14";

/// One item of a server's SSE stream (`client.event.subscribe()`), as the real handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// `server.connected`, sent first on every stream; it carries no `sessionID`.
    Connected,
    /// `server.heartbeat`; no `sessionID`.
    Heartbeat,
    /// `session.idle` of a session on this server.
    Idle(SessionId),
    /// `session.error` of a session on this server (the session is dead).
    Error(SessionId),
}

/// What the stream yields: an event, or an error the SSE client would throw when the server's
/// connection is lost. No SDK from 1.0.25 to 7.3.1 throws there (7.2.14, measured: it retries
/// for ever, silently, which the fake backend plays by going silent); the error arm serves the
/// hypothetical `stream-errors` family only. The stream ending (`None`) is the `for await`
/// completing.
pub type EventStream = UnboundedReceiver<Result<ServerEvent, BackendError>>;

/// The SDK calls the models need beyond [`SessionBackend`]. Every call is an `await` of the
/// real code, so each is an interleaving point the harness controls.
pub trait KiloSdk: SessionBackend {
    /// `createKilo({port: nextPort++, timeout: 30_000})`: always spawns a *new* `kilo serve`
    /// child for `workdir`, whatever else runs there (the map lookup is the caller's).
    fn spawn_server(
        &self,
        workdir: &Workdir,
    ) -> impl Future<Output = Result<ServerId, BackendError>> + Send;

    /// `server.close()`: kills the `kilo serve` child synchronously; every session on it dies.
    /// Not an `await` in the real code, so not an interleaving point here.
    fn kill_server(&self, server: ServerId);

    /// `instance.client.session.abort({path: {id}})` through the client of `server`;
    /// `None` is the empty id `''` of a record whose create has not returned.
    fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// `client.session.prompt({path: {id}})` through the client of `server` (the instance the
    /// start got from `ensureSDKServer`), which need not be the session's own server after
    /// LATEST's stale-db fallback. A session the server does not know answers 200 with an
    /// empty body on the 7.3 CLI (`Bun.serve`), which the SDK returns, not throws. A backend
    /// that has no such mismatch may prompt the session directly.
    fn prompt_on(
        &self,
        server: ServerId,
        session: SessionId,
        text: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = server;
        self.prompt(session, text)
    }

    /// `client.event.subscribe()` on `server`: one stream of every session's events.
    fn subscribe_server(
        &self,
        server: ServerId,
    ) -> impl Future<Output = Result<EventStream, BackendError>> + Send;

    /// A round trip to the gastown worker (db hydration, nudge fetch, eviction notice,
    /// force-save): an `await` outside the session backend. Every caller in the real code
    /// swallows its errors, so it only takes time.
    fn worker(&self, what: &'static str) -> impl Future<Output = ()> + Send;
}
