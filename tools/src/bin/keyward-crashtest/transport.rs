//! Which socket each load worker talks to: the frame protocol on `keyward.sock`, the HTTP/JSON
//! API on `http.sock`, or both, one worker each way. The checks after a restart always use
//! frames, so they judge what either transport acknowledged by the same reads.

use keyward_client::{Client, Error, Op, Reply, Secret};
use std::path::Path;

use crate::http::HttpClient;

/// `--transport`: how the load reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// Every worker on the frame socket.
    Frames,
    /// Every worker on the HTTP socket.
    Http,
    /// Even-numbered workers on frames, odd-numbered ones on HTTP, so both run at once
    /// against the same credentials.
    Mixed,
}

impl Transport {
    /// Whether worker number `index` uses HTTP.
    fn http_for(self, index: usize) -> bool {
        match self {
            Transport::Frames => false,
            Transport::Http => true,
            Transport::Mixed => index % 2 == 1,
        }
    }

    /// Opens worker `index`'s connection, authenticated with `admin_key`.
    ///
    /// # Errors
    /// If the socket cannot be reached or the handshake fails.
    pub(crate) async fn connect(
        self,
        index: usize,
        socket: &Path,
        http_socket: &Path,
        admin_key: &Secret,
    ) -> Result<Connection, Error> {
        if self.http_for(index) {
            let client = HttpClient::connect(http_socket, admin_key.clone()).await?;
            return Ok(Connection::Http(client));
        }
        let mut client = Client::connect(socket).await?;
        client.set_admin_key(admin_key.clone());
        Ok(Connection::Frames(client))
    }
}

/// One worker's connection.
pub(crate) enum Connection {
    /// The frame protocol.
    Frames(Client),
    /// The HTTP/JSON API.
    Http(HttpClient),
}

impl Connection {
    /// Sends `op` and waits for its answer.
    ///
    /// # Errors
    /// `Error::Daemon` when the daemon refused; any other error leaves the outcome unknown.
    pub(crate) async fn call(&mut self, op: Op) -> Result<Reply, Error> {
        match self {
            Connection::Frames(client) => client.call(op).await,
            Connection::Http(client) => client.call(op).await,
        }
    }
}
