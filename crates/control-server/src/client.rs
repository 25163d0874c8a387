//! A client of the control API over any byte stream, one connection a request: the town's
//! `fetch` opens a connection per call, and dropping a call's future drops its connection,
//! which is how a caller that gives up looks to the server.

use std::fmt;
use std::future::Future;
use std::io;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{AgentState, ErrorBody, Heartbeat, StartBody, StartReply};

/// Why a call got no answer of the kind it wanted.
#[derive(Debug)]
pub enum ClientError {
    /// No connection (refused, reset, partitioned).
    Connect(io::Error),
    /// The connection broke before the answer was read.
    Http(hyper::Error),
    /// The server answered with an error.
    Refused { status: u16, body: ErrorBody },
    /// The answer was not what the API promises.
    Decode(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Http(e) => write!(f, "connection failed: {e}"),
            Self::Refused { status, body } => {
                write!(f, "refused ({status} {}): {}", body.error, body.detail)
            }
            Self::Decode(e) => write!(f, "unreadable answer: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Calls the control API through connections that `connect` opens.
pub struct ControlClient<C> {
    http: Http<C>,
}

impl<C, F, S> ControlClient<C>
where
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(connect: C) -> Self {
        Self {
            http: Http { connect },
        }
    }

    pub async fn start(&self, body: &StartBody) -> Result<StartReply, ClientError> {
        let json = serde_json::to_vec(body).expect("a start body serialises");
        self.http
            .call(Method::POST, "/agents/start".into(), json)
            .await
    }

    pub async fn stop(&self, agent: &str) -> Result<AgentState, ClientError> {
        self.http
            .call(Method::POST, format!("/agents/{agent}/stop"), Vec::new())
            .await
    }

    /// `None` when the container has no record of the agent (404).
    pub async fn status(&self, agent: &str) -> Result<Option<AgentState>, ClientError> {
        match self
            .http
            .call(Method::GET, format!("/agents/{agent}/status"), Vec::new())
            .await
        {
            Ok(state) => Ok(Some(state)),
            Err(ClientError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn health(&self) -> Result<(), ClientError> {
        self.http
            .call::<serde_json::Value>(Method::GET, "/health".into(), Vec::new())
            .await
            .map(|_| ())
    }
}

/// The town's side of the API that the container calls: heartbeats.
pub struct TownClient<C> {
    http: Http<C>,
}

impl<C, F, S> TownClient<C>
where
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(connect: C) -> Self {
        Self {
            http: Http { connect },
        }
    }

    /// `POST /agents/{id}/heartbeat`: the agent lives in this container.
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<(), ClientError> {
        let json = serde_json::to_vec(beat).expect("a heartbeat serialises");
        self.http
            .call::<serde_json::Value>(
                Method::POST,
                format!("/agents/{}/heartbeat", beat.agent),
                json,
            )
            .await
            .map(|_| ())
    }
}

/// One request a connection.
struct Http<C> {
    connect: C,
}

impl<C, F, S> Http<C>
where
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let stream = (self.connect)().await.map_err(ClientError::Connect)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "container")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a well-formed request");
        let exchange = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, bytes))
        };
        // The connection is driven here, not in a task of its own: a caller that gives up
        // drops it with the request.
        tokio::pin!(connection);
        let (status, bytes) = tokio::select! {
            biased;
            answer = exchange => answer.map_err(ClientError::Http)?,
            closed = &mut connection => {
                return Err(match closed {
                    Err(e) => ClientError::Http(e),
                    Ok(()) => ClientError::Decode("the connection closed before an answer".into()),
                });
            }
        };
        if status != StatusCode::OK {
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                error: "unknown".into(),
                detail: String::from_utf8_lossy(&bytes).into_owned(),
            });
            return Err(ClientError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }
}
