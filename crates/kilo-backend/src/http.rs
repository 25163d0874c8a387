//! The few kilo routes the backend calls, over hyper's bare HTTP/1 client on a fresh
//! `TcpStream` per request (the client `kilo-contract` and the session server already use; no
//! new dependency), each bounded, and `GET /event` read in a task of its own.
//!
//! How an answer maps onto [`BackendError`] is decided here, once: no connection, or a
//! connection that broke before the whole answer arrived, is [`BackendError::Gone`] (the
//! server is dead: the SDK throws there); any HTTP status outside 2xx is
//! [`BackendError::Failed`] with the status and body (the SDK returns `{error}` there); no end
//! within the bound is [`BackendError::Timeout`].

use std::net::SocketAddr;
use std::time::Duration;

use agent_lifecycle::BackendError;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;

type Body = BoxBody<Bytes, std::convert::Infallible>;

async fn connect(addr: SocketAddr) -> Result<SendRequest<Body>, BackendError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| BackendError::Gone(format!("{addr}: connect: {e}")))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| BackendError::Gone(format!("{addr}: handshake: {e}")))?;
    tokio::spawn(connection);
    Ok(sender)
}

fn build(method: &str, path: &str, body: Option<&Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())).boxed()),
        None => builder.body(Empty::new().boxed()),
    }
    .expect("a well-formed request")
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Bytes, BackendError> {
    let mut sender = connect(addr).await?;
    let response = sender
        .send_request(build(method, path, body))
        .await
        .map_err(|e| BackendError::Gone(format!("{method} {path}: {e}")))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| BackendError::Gone(format!("{method} {path}: body: {e}")))?
        .to_bytes();
    if !status.is_success() {
        return Err(BackendError::Failed(format!(
            "{method} {path}: {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    Ok(body)
}

/// One request to the kilo server at `addr`, bounded by `timeout` as a whole; the 2xx body.
pub(crate) async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Bytes, BackendError> {
    tokio::time::timeout(timeout, exchange(addr, method, path, body))
        .await
        .unwrap_or(Err(BackendError::Timeout))
}

/// [`call`], with the 2xx body parsed as JSON (a body that is not JSON is `Failed`).
pub(crate) async fn call_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Value, BackendError> {
    let bytes = call(addr, method, path, body, timeout).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        BackendError::Failed(format!(
            "{method} {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        ))
    })
}

/// One event of `GET /event`: its `type` and `properties`.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) kind: String,
    pub(crate) properties: Value,
}

/// Opens `GET /event` on `addr` (the status line bounded by `timeout`), then reads it in a
/// task of its own, sending every event to `tx` until the stream ends (the server died or
/// closed it) or `tx`'s receiver is gone. Returns once the stream is open.
pub(crate) async fn open_events(
    addr: SocketAddr,
    timeout: Duration,
    tx: UnboundedSender<Event>,
) -> Result<(), BackendError> {
    let open = async {
        let mut sender = connect(addr).await?;
        let response = sender
            .send_request(build("GET", "/event", None))
            .await
            .map_err(|e| BackendError::Gone(format!("GET /event: {e}")))?;
        if !response.status().is_success() {
            return Err(BackendError::Failed(format!(
                "GET /event: {}",
                response.status()
            )));
        }
        Ok(response.into_body())
    };
    let mut body = tokio::time::timeout(timeout, open)
        .await
        .unwrap_or(Err(BackendError::Timeout))?;
    tokio::spawn(async move {
        let mut pending = String::new();
        let mut data = String::new();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                // Nobody reads any more: stop reading (and drop the connection).
                _ = tx.closed() => return,
            };
            let Some(Ok(frame)) = frame else { return };
            let Ok(bytes) = frame.into_data() else {
                continue;
            };
            pending.push_str(&String::from_utf8_lossy(&bytes));
            while let Some(newline) = pending.find('\n') {
                let line: String = pending.drain(..=newline).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if let Some(event) = parse(&data)
                        && tx.send(event).is_err()
                    {
                        return;
                    }
                    data.clear();
                } else if let Some(rest) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                }
            }
        }
    });
    Ok(())
}

fn parse(data: &str) -> Option<Event> {
    if data.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_str(data).ok()?;
    Some(Event {
        kind: value["type"].as_str()?.to_string(),
        properties: value["properties"].clone(),
    })
}
