//! The session server's wire format, and the client side of it: one HTTP/1 connection a
//! call, each call's wait bounded (the call itself goes on: a reply can be lost), errors mapped to `BackendError` (404 is `Gone`: the server no
//! longer has the session; a refused connection is `Gone`: the server is dead).

use std::net::SocketAddr;
use std::time::Duration;

use agent_lifecycle::BackendError;
use http_body_util::{BodyExt, Empty as EmptyBody, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

#[derive(Serialize, Deserialize)]
pub struct Create {
    pub agent: String,
}

#[derive(Serialize, Deserialize)]
pub struct Created {
    pub id: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Listed {
    pub id: u64,
    pub agent: String,
}

#[derive(Serialize, Deserialize)]
pub struct Prompt {
    pub text: String,
}

#[derive(Serialize, Deserialize)]
pub struct Empty {}

#[derive(Serialize, Deserialize)]
pub struct Failure {
    pub error: String,
    #[serde(default)]
    pub detail: String,
}

pub struct Wire {
    addr: SocketAddr,
    timeout: Duration,
}

impl Wire {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self { addr, timeout }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, BackendError> {
        self.call(Method::GET, path, Vec::new()).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, BackendError> {
        let json = serde_json::to_vec(body).expect("a request body serialises");
        self.call(Method::POST, path, json).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, BackendError> {
        let wire = Wire::new(self.addr, self.timeout);
        let path = path.to_string();
        // The exchange runs in a task of its own, and goes on when its caller stops waiting:
        // the request still reaches the server and takes effect, and only its reply is lost,
        // as with any real network call that times out.
        let exchange = tokio::spawn(async move {
            let response = wire
                .send(method, &path, Full::new(Bytes::from(body)))
                .await?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| BackendError::Failed(format!("the answer broke off: {e}")))?
                .to_bytes();
            Ok::<_, BackendError>((status, bytes))
        });
        let (status, bytes) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Err(BackendError::Timeout),
            Ok(Err(e)) => return Err(BackendError::Failed(format!("the call's task died: {e}"))),
            Ok(Ok(answer)) => answer?,
        };
        if status != StatusCode::OK {
            return Err(refused(status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| BackendError::Failed(format!("unreadable answer: {e}")))
    }

    async fn send<B>(
        &self,
        method: Method,
        path: &str,
        body: B,
    ) -> Result<Response<Incoming>, BackendError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| BackendError::Gone(format!("session server at {}: {e}", self.addr)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        // The connection lives as long as its answer is read, in a task of its own: an event
        // stream is read long after this returns.
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(body)
            .expect("a well-formed request");
        sender
            .send_request(request)
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))
    }

    /// Opens an event stream (server-sent events); yields each event's name until the stream
    /// ends.
    pub async fn events(&self, path: &str) -> Result<UnboundedReceiver<String>, BackendError> {
        let response = tokio::time::timeout(
            self.timeout,
            self.send(Method::GET, path, EmptyBody::<Bytes>::new()),
        )
        .await
        .map_err(|_| BackendError::Timeout)??;
        let status = response.status();
        if status != StatusCode::OK {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(refused(status, &bytes));
        }
        let (tx, rx) = unbounded_channel();
        let mut body = response.into_body();
        tokio::spawn(async move {
            let mut pending = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                pending.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = pending.find("\n\n") {
                    let event: String = pending.drain(..end + 2).collect();
                    let name = event
                        .lines()
                        .find_map(|l| l.strip_prefix("event:"))
                        .map(|n| n.trim().to_string());
                    if let Some(name) = name
                        && tx.send(name).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

fn refused(status: StatusCode, bytes: &[u8]) -> BackendError {
    let failure: Failure = serde_json::from_slice(bytes).unwrap_or(Failure {
        error: "unknown".into(),
        detail: String::from_utf8_lossy(bytes).into_owned(),
    });
    if status == StatusCode::NOT_FOUND {
        BackendError::Gone(failure.detail)
    } else {
        BackendError::Failed(format!("{status}: {} {}", failure.error, failure.detail))
    }
}
