//! The fake backend the other tools' tests run against, written as a user of those tools would
//! write one: an in-memory server with the harness's fault families, whose calls take effect
//! after a real `tokio::time::sleep` (real time in the stress test, turmoil's or tokio's
//! paused clock elsewhere) and whose randomness is one seeded rng.
//!
//! Its semantics follow the harness's world (`sim/src/world/server.rs` and `calls.rs`) call by
//! call, so that a contender hunts the same bug the harness does: a call's effect runs in its
//! own task and lands even when the caller gave up (a late effect, a dropped future); a lost
//! reply lands and answers an error or nothing; a prompt blocks for its turn (the call's
//! latency, or `Timing::turn_ms` as the world's), whose end publishes `session.idle` (after a
//! `session.error` that does not end the session, drawn), before or after the reply; an abort is idempotent and either cuts a prompt in flight short
//! (it answers at once) or lets it run afterwards, which makes the session live again; a
//! dead server's streams throw (`stream-errors`) or go silent. It keeps the harness's [`Ledger`], so each
//! contender is judged by the harness's own checks (at every close, at a long turn, at an
//! operation's return, once settled). It reads the operation a call serves from the request
//! context (`agent_lifecycle::RequestContext`, which the play scopes each operation in, as an
//! HTTP layer would), so the ledger says which start created a session (I6) and prompted a
//! turn (L5). What it lacks is the harness's control: no decision stream, no scheduler
//! choosing which ready call answers first, no same-instant order.

use std::future::pending;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use agent_lifecycle::{BackendError, RequestContext, ServerId, SessionId, Snapshot, Workdir};
use lifecycle_models::ServerEvent;
use lifecycle_sim::check::check_close;
use lifecycle_sim::scenario::workload::CallKind;
use lifecycle_sim::world::history::OpId;
use lifecycle_sim::world::ledger::Ledger;
use lifecycle_sim::world::{Closing, HEARTBEAT_MS, LATE_EFFECT_MS};
use lifecycle_sim::{FaultConfig, Violation};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

mod sdk;
mod turns;

/// How a call goes wrong (the harness's `Fault`, drawn in the same order).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Hang,
    Fail,
    Late(u64),
    /// Takes effect; the reply is lost and the caller hears nothing.
    LostSilently,
    /// Takes effect; the caller hears an error.
    Lie,
}

type SnapshotFn = Box<dyn Fn() -> Option<Snapshot> + Send + Sync>;
type StartFn = Box<dyn Fn(OpId) -> bool + Send + Sync>;

struct State {
    ledger: Ledger,
    faults: FaultConfig,
    healed: bool,
    ended: bool,
    rng: ChaCha8Rng,
    max_latency_ms: u32,
    call_timeout: Duration,
    /// How long a turn lasts (`Timing::turn_ms`); `None`: the prompt's drawn latency.
    turn_ms: Option<u64>,
    /// Streams of dead servers that retry for ever in silence (SDK 7.2.14).
    silent: Vec<UnboundedSender<Result<ServerEvent, BackendError>>>,
    /// The first violation a check saw: a close's I3, a long turn's L5, or one the play
    /// reported ([`PlainBackend::saw`]).
    violation: Option<Violation>,
    /// Prompts whose turn is running: the session, and the flag an abort sets to cut it short.
    turns: Vec<(SessionId, Arc<CutShort>)>,
}

/// A running turn's flag: set (and its prompt woken) when an abort cuts the turn short.
#[derive(Default)]
pub(crate) struct CutShort {
    cut: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

#[derive(Clone)]
pub struct PlainBackend {
    state: Arc<Mutex<State>>,
    snapshot: Arc<OnceLock<SnapshotFn>>,
    /// Whether an operation is a start in flight that no other operation of its agent
    /// disturbed (L5 judges only those).
    undisturbed_start: Arc<OnceLock<StartFn>>,
}

/// What a call's effect made, for a reply that never reached its caller.
trait Made {
    fn mark_ambiguous(&self, _ledger: &mut Ledger) {}
}

impl Made for ServerId {
    fn mark_ambiguous(&self, ledger: &mut Ledger) {
        if let Some(s) = ledger.server_mut(*self) {
            s.ambiguous = true;
        }
    }
}

impl Made for SessionId {
    fn mark_ambiguous(&self, ledger: &mut Ledger) {
        if let Some(s) = ledger.session_mut(*self) {
            s.ambiguous = true;
        }
    }
}

impl Made for () {}
impl<T> Made for Vec<T> {}
impl<T> Made for UnboundedReceiver<T> {}

fn gone(what: String) -> BackendError {
    BackendError::Gone(what)
}

impl PlainBackend {
    pub fn new(
        faults: FaultConfig,
        max_latency_ms: u32,
        call_timeout: Duration,
        seed: u64,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                ledger: Ledger::default(),
                faults,
                healed: false,
                ended: false,
                rng: ChaCha8Rng::seed_from_u64(seed),
                max_latency_ms,
                call_timeout,
                turn_ms: None,
                silent: Vec::new(),
                violation: None,
                turns: Vec::new(),
            })),
            snapshot: Arc::new(OnceLock::new()),
            undisturbed_start: Arc::new(OnceLock::new()),
        }
    }

    /// Turns that last `turn_ms` (`Timing::turn_ms`), as the real `session.prompt` blocks for
    /// the model's whole turn; `None`: a turn is the prompt's drawn latency.
    pub fn with_turns(self, turn_ms: Option<u64>) -> Self {
        self.lock().turn_ms = turn_ms;
        self
    }

    /// How the backend tells a start in flight that no other operation of its agent disturbed
    /// (L5 at a long turn).
    pub fn watch_starts(&self, undisturbed: impl Fn(OpId) -> bool + Send + Sync + 'static) {
        let _ = self.undisturbed_start.set(Box::new(undisturbed));
    }

    /// A violation a check of the play's saw; the first one seen is the verdict.
    pub fn saw(&self, violation: Violation) {
        let mut state = self.lock();
        if state.violation.is_none() {
            state.violation = Some(violation);
        }
    }

    /// How the backend sees what the manager tracks when a server closes (I3 at close).
    pub fn watch(&self, snapshot: impl Fn() -> Option<Snapshot> + Send + Sync + 'static) {
        let _ = self.snapshot.set(Box::new(snapshot));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Reads the ledger (and the first violation seen).
    pub fn judge<T>(&self, f: impl FnOnce(&Ledger, Option<&Violation>) -> T) -> T {
        let state = self.lock();
        f(&state.ledger, state.violation.as_ref())
    }

    /// Faults stop: what follows is the manager cleaning up after them.
    pub fn heal(&self) {
        self.lock().healed = true;
    }

    /// The scenario is over: every server dies, so the manager's watchers and heartbeats end.
    pub fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        state.ledger.kill_all();
        state.silent.clear();
    }

    /// Schedules the faults' server crashes within the first `window` of the scenario.
    pub fn schedule_crashes(&self, window_ms: u32) {
        let crashes = self.lock().faults.server_crashes;
        for _ in 0..crashes {
            let at = self.lock().rng.random_range(1..=window_ms);
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(at))).await;
                let mut state = me.lock();
                if state.healed || state.ended {
                    return;
                }
                let open = state.ledger.open_servers();
                if open.is_empty() {
                    return;
                }
                let server = open[state.rng.random_range(0..open.len())];
                state.server_died(server, false);
                if let Some(s) = state.ledger.server_mut(server) {
                    s.crashed = true;
                }
            });
        }
    }

    async fn call<T: Made + Send + 'static>(
        &self,
        kind: CallKind,
        effect: impl FnOnce(&mut State, &PlainBackend) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let (fault, latency) = self.lock().draw(kind);
        let me = self.clone();
        // What a call nobody heard the answer of made is ambiguous (the checks excuse it
        // until the manager has had its chance to find it).
        let land = move |state: &mut State, unanswered: bool| {
            let outcome = effect(state, &me);
            if unanswered && let Ok(made) = &outcome {
                made.mark_ambiguous(&mut state.ledger);
            }
            outcome
        };
        match fault {
            Some(Fault::Hang) => pending().await,
            Some(Fault::Late(by)) => {
                let (state, wait) = (self.state.clone(), self.lock().call_timeout);
                tokio::spawn(async move {
                    tokio::time::sleep(wait + Duration::from_millis(by)).await;
                    let _ = land(&mut lock(&state), true);
                });
                pending().await
            }
            _ => {
                // Its own task: the effect lands even if the caller's future is dropped (and
                // then nobody hears of what it made).
                let state = self.state.clone();
                let (reply, answer) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(latency)).await;
                    let mut state = lock(&state);
                    let abandoned = reply.is_closed();
                    let answer = match fault {
                        Some(Fault::Fail) => {
                            Some(Err(BackendError::Failed("injected fault".into())))
                        }
                        Some(Fault::LostSilently) => {
                            let _ = land(&mut state, true);
                            None
                        }
                        Some(Fault::Lie) => {
                            let _ = land(&mut state, true);
                            Some(Err(BackendError::Failed("reply lost".into())))
                        }
                        _ => Some(land(&mut state, abandoned)),
                    };
                    let _ = reply.send(answer);
                });
                match answer.await {
                    Ok(Some(reply)) => reply,
                    Ok(None) => pending().await,
                    Err(_) => Err(BackendError::Failed("container gone".into())),
                }
            }
        }
    }
}

/// The operation the current task serves, from its request context.
pub(crate) fn current_op() -> Option<OpId> {
    RequestContext::current().map(|c| c.id as OpId)
}

pub(crate) fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// The fault rates in force: none once healed.
    fn faults_now(&self) -> FaultConfig {
        if self.healed {
            FaultConfig::none()
        } else {
            self.faults
        }
    }

    /// The harness's draw (`World::draw_fault`): hang, error, late effect, lost reply, then the
    /// call's own family (a create that lies, an abort that fails).
    fn draw(&mut self, kind: CallKind) -> (Option<Fault>, u64) {
        let f = self.faults_now();
        let latency = u64::from(self.rng.random_range(1..=self.max_latency_ms));
        if kind == CallKind::Worker {
            return (None, latency);
        }
        let mut percent = |p: u32| p > 0 && self.rng.random_range(0..100) < p;
        let fault = if percent(f.hangs) {
            Some(Fault::Hang)
        } else if percent(f.call_errors) {
            Some(Fault::Fail)
        } else if percent(f.late_effects) {
            let by = self.rng.random_range(1..=u64::from(LATE_EFFECT_MS));
            Some(Fault::Late(by))
        } else if percent(f.lost_replies) {
            Some(if self.rng.random_bool(0.5) {
                Fault::LostSilently
            } else {
                Fault::Lie
            })
        } else {
            match kind {
                CallKind::CreateSession if percent(f.create_lies) => Some(Fault::Lie),
                CallKind::AbortSession if percent(f.abort_fails) => Some(Fault::Fail),
                _ => None,
            }
        };
        (fault, latency)
    }

    fn start_server(&mut self, workdir: &Workdir, me: &PlainBackend) -> ServerId {
        let server = self.ledger.start_server(workdir);
        let me = me.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS)).await;
                let mut state = me.lock();
                if state.ended || !state.ledger.server(server).is_some_and(|s| s.open) {
                    return;
                }
                state.broadcast(server, ServerEvent::Heartbeat);
            }
        });
        server
    }

    fn broadcast(&mut self, server: ServerId, event: ServerEvent) {
        if let Some(s) = self.ledger.server_mut(server) {
            s.streams.retain(|tx| tx.send(Ok(event)).is_ok());
        }
    }

    /// A server died: its sessions die. Closed (`graceful`), its streams end normally, as a
    /// native server's do on SIGTERM; crashed, each throws (stream-errors) or goes silent.
    fn server_died(&mut self, server: ServerId, graceful: bool) {
        let errors = self.faults_now().stream_errors;
        for stream in self.ledger.take_streams(server) {
            if graceful {
                drop(stream);
            } else if errors > 0 && self.rng.random_range(0..100) < errors {
                let _ = stream.send(Err(gone(format!("{server}: event stream lost"))));
            } else {
                self.silent.push(stream);
            }
        }
        self.ledger.close_server(server);
    }

    /// A server closes: I3 is judged on what the manager tracks at that moment.
    fn close(&mut self, server: ServerId, me: &PlainBackend) {
        if let Some(snapshot) = me.snapshot.get().and_then(|f| f())
            && let Err(v) = check_close(&Closing::of(&self.ledger, server, snapshot))
            && self.violation.is_none()
        {
            self.violation = Some(v);
        }
        self.server_died(server, true);
    }
}
