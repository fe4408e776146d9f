//! Speaking keyward's frames directly: the handshake, and an [`Exchange`] that writes requests
//! and reads responses with `keyward_protocol::frame`, as `keyward_client::Client` does but with
//! a sliding window of requests in flight instead of lock-step batches.

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use keyward_protocol::frame;
use keyward_protocol::{Hello, HelloReply, Request, Response, Secret, PROTOCOL_VERSION};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::LengthDelimitedCodec;

use super::ops::OpSource;
use crate::load::Exchange;

/// The name the harness gives in its hello, which the daemon logs.
const CLIENT_NAME: &str = concat!("keyward-bench/", env!("CARGO_PKG_VERSION"));

/// Connects to the daemon at `socket` and completes the handshake.
///
/// # Errors
/// If the socket cannot be reached or the daemon refuses the hello.
pub(crate) async fn connect(socket: &Path) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let mut framing = frame::codec();
    let mut buf = BytesMut::new();
    frame::write_message(&Hello::current(CLIENT_NAME), &mut buf)?;
    stream.write_all(&buf).await?;
    buf.clear();
    loop {
        if let Some(reply) = frame::read_message::<HelloReply>(&mut framing, &mut buf)? {
            return match reply {
                HelloReply::Accepted { version, .. } if version == PROTOCOL_VERSION => Ok(stream),
                HelloReply::Accepted { version, .. } => {
                    bail!("keywardd speaks protocol {version}, the harness {PROTOCOL_VERSION}")
                }
                HelloReply::Refused(e) => bail!("keywardd refused the handshake: {e}"),
            };
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("keywardd closed the connection during the handshake");
        }
    }
}

/// Requests from an [`OpSource`], framed; responses checked for order and judged by the source.
#[derive(Debug)]
pub(crate) struct FrameExchange<S> {
    source: S,
    framing: LengthDelimitedCodec,
    admin_key: Option<Secret>,
    next_id: u64,
    next_reply: u64,
}

impl<S: OpSource> FrameExchange<S> {
    /// Sends `source`'s operations, with `admin_key` on those that need one.
    pub fn new(source: S, admin_key: Option<Secret>) -> Self {
        FrameExchange {
            source,
            framing: frame::codec(),
            admin_key,
            next_id: 1,
            next_reply: 1,
        }
    }

    /// The source, with whatever it collected.
    pub fn into_source(self) -> S {
        self.source
    }
}

impl<S: OpSource> Exchange for FrameExchange<S> {
    fn write_request(&mut self, out: &mut BytesMut) -> Result<bool> {
        let Some(op) = self.source.next_op() else {
            return Ok(false);
        };
        let admin_key = if op.needs_admin_key() {
            self.admin_key.clone()
        } else {
            None
        };
        let request = Request {
            id: self.next_id,
            admin_key,
            op,
        };
        self.next_id += 1;
        frame::write_message(&request, out)?;
        Ok(true)
    }

    fn read_reply(&mut self, input: &mut BytesMut) -> Result<Option<bool>> {
        let Some(response) = frame::read_message::<Response>(&mut self.framing, input)? else {
            return Ok(None);
        };
        if response.id != self.next_reply {
            bail!(
                "reply to request {} arrived where {} was expected",
                response.id,
                self.next_reply
            );
        }
        self.next_reply += 1;
        Ok(Some(self.source.on_reply(response.result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyward::ops::Pings;
    use keyward_protocol::{Op, Reply};

    /// Requests carry rising ids, and a reply out of order is an error rather than a miscount.
    #[test]
    fn ids_rise_and_order_is_checked() {
        let mut exchange = FrameExchange::new(Pings, None);
        let mut out = BytesMut::new();
        assert!(exchange.write_request(&mut out).unwrap());
        assert!(exchange.write_request(&mut out).unwrap());
        let mut framing = frame::codec();
        for id in [1, 2] {
            let req: Request = frame::read_message(&mut framing, &mut out)
                .unwrap()
                .unwrap();
            assert_eq!((req.id, req.op), (id, Op::Ping));
        }
        let mut input = BytesMut::new();
        let pong = |id| Response {
            id,
            result: Ok(Reply::Pong {
                version: "0".into(),
            }),
        };
        frame::write_message(&pong(1), &mut input).unwrap();
        frame::write_message(&pong(3), &mut input).unwrap();
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(true));
        assert!(exchange.read_reply(&mut input).is_err());
    }
}
