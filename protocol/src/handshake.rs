//! The version handshake: the first frame each way on every connection.
//!
//! The client sends [`Hello`]; the daemon answers [`HelloReply`]. On a mismatch the daemon
//! replies with an error and closes, so an old client fails with a clear message rather than
//! misreading frames.

use crate::WireError;
use serde::{Deserialize, Serialize};

/// Four bytes that open every `Hello`, so a stray peer speaking something else is recognised.
pub const MAGIC: [u8; 4] = *b"KWRD";

/// The protocol version this crate speaks. Bumped on any incompatible wire change (2: verify
/// requirements, the outcome a backup's end reports, and audit pages with filters; 3: client
/// delete and update, API-token list, show and update, and paged lists; 4: external ids and
/// metadata, and usage in shows and lists).
pub const PROTOCOL_VERSION: u16 = 4;

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`MAGIC`].
    pub magic: [u8; 4],
    /// The protocol version the client speaks.
    pub version: u16,
    /// Free text naming the client software, for logs.
    pub client: String,
}

impl Hello {
    /// The hello this crate's version sends.
    pub fn current(client: impl Into<String>) -> Self {
        Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            client: client.into(),
        }
    }
}

/// The daemon's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// The connection is open for requests.
    Accepted {
        /// The protocol version the daemon speaks.
        version: u16,
        /// The daemon's package version, e.g. `0.1.0`.
        server: String,
    },
    /// The handshake failed; the daemon closes the connection after sending this.
    Refused(WireError),
}
