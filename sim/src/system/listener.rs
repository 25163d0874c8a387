//! turmoil's TCP listener, as a listener axum can serve on: the control server's router runs
//! unchanged on the simulated network.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use turmoil::net::{TcpListener, TcpStream};

use super::{CONTAINER_HOST, CONTROL_PORT, TOWN_HOST, TOWN_PORT};

/// A turmoil TCP listener that axum can serve on.
pub struct SimListener(pub TcpListener);

impl SimListener {
    /// Binds the control port on the current host.
    pub async fn bind() -> io::Result<Self> {
        Self::bind_port(CONTROL_PORT).await
    }

    /// Binds `port` on the current host.
    pub async fn bind_port(port: u16) -> io::Result<Self> {
        TcpListener::bind(("0.0.0.0", port)).await.map(Self)
    }
}

impl axum::serve::Listener for SimListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(accepted) => return accepted,
                // As axum does on a real socket: a failed accept is retried a moment later.
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Opens a connection to the container's control port over turmoil's network.
pub async fn connect() -> io::Result<TcpStream> {
    TcpStream::connect((CONTAINER_HOST, CONTROL_PORT)).await
}

/// Serves `router` on the current host's control port until the host dies.
pub async fn serve(router: axum::Router) -> io::Result<()> {
    serve_on(CONTROL_PORT, router).await
}

/// Serves `router` on the current host's `port` until the host dies.
pub async fn serve_on(port: u16, router: axum::Router) -> io::Result<()> {
    let listener = SimListener::bind_port(port).await?;
    axum::serve(listener, router).await
}

/// Opens a connection to the town's port (heartbeats) over turmoil's network.
pub async fn connect_town() -> io::Result<TcpStream> {
    TcpStream::connect((TOWN_HOST, TOWN_PORT)).await
}
