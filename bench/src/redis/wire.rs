//! Speaking RESP2 over Redis's Unix socket, encoded and decoded by `redis-protocol`.

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use redis_protocol::resp2::decode::{decode, decode_range};
use redis_protocol::resp2::encode::extend_encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame, RangeFrame};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::load::Exchange;

/// Appends one command, an array of bulk strings, to `out`. The fixed arity keeps the frame on
/// the stack: no allocation per request.
///
/// # Errors
/// Never in practice: `redis-protocol` fails only on frames it cannot size.
pub(crate) fn encode_command<const N: usize>(out: &mut BytesMut, args: [&[u8]; N]) -> Result<()> {
    let parts = args.map(BorrowedFrame::BulkString);
    extend_encode_borrowed(out, &BorrowedFrame::Array(&parts), false)
        .context("encoding a RESP command")?;
    Ok(())
}

/// Chooses one connection's next command and judges each reply.
pub(crate) trait CommandSource: Send + 'static {
    /// Appends the next command to `out`; `false` when there is nothing more to send.
    ///
    /// # Errors
    /// If the command cannot be encoded.
    fn write_command(&mut self, out: &mut BytesMut) -> Result<bool>;

    /// Whether `reply`, whose ranges index into `bytes`, is the expected success.
    fn judge(&mut self, reply: &RangeFrame, bytes: &[u8]) -> bool;
}

/// The text of a simple-string or error reply.
pub(crate) fn reply_text<'a>(reply: &RangeFrame, bytes: &'a [u8]) -> Option<&'a [u8]> {
    match reply {
        RangeFrame::SimpleString((start, end)) | RangeFrame::Error((start, end)) => {
            bytes.get(*start..*end)
        }
        _ => None,
    }
}

/// Commands from a [`CommandSource`]; replies decoded in place, without copying.
#[derive(Debug)]
pub(crate) struct RespExchange<S> {
    source: S,
}

impl<S: CommandSource> RespExchange<S> {
    /// Sends `source`'s commands.
    pub fn new(source: S) -> Self {
        RespExchange { source }
    }

    /// The source, with whatever it collected.
    pub fn into_source(self) -> S {
        self.source
    }
}

impl<S: CommandSource> Exchange for RespExchange<S> {
    fn write_request(&mut self, out: &mut BytesMut) -> Result<bool> {
        self.source.write_command(out)
    }

    fn read_reply(&mut self, input: &mut BytesMut) -> Result<Option<bool>> {
        let Some((frame, len)) = decode_range(input).context("decoding a RESP reply")? else {
            return Ok(None);
        };
        let ok = self.source.judge(&frame, &input[..len]);
        input.advance(len);
        Ok(Some(ok))
    }
}

/// Sends one command on `stream` and waits for its reply: for set-up and probes, not load.
///
/// # Errors
/// If the connection fails or the reply does not decode.
pub(crate) async fn call<const N: usize>(
    stream: &mut UnixStream,
    args: [&[u8]; N],
) -> Result<OwnedFrame> {
    let mut buf = BytesMut::new();
    encode_command(&mut buf, args)?;
    stream.write_all(&buf).await?;
    buf.clear();
    loop {
        if let Some((frame, len)) = decode(&buf).context("decoding a RESP reply")? {
            buf.advance(len);
            return Ok(frame);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("redis-server closed the connection");
        }
    }
}

/// Connects to the socket at `path`.
///
/// # Errors
/// If it cannot be reached.
pub(crate) async fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path)
        .await
        .with_context(|| format!("connecting to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands are RESP arrays of bulk strings, byte for byte what redis-cli sends.
    #[test]
    fn command_encoding() {
        let mut out = BytesMut::new();
        encode_command(&mut out, [b"GETEX".as_slice(), b"k1", b"EX", b"86400"]).unwrap();
        assert_eq!(
            &out[..],
            b"*4\r\n$5\r\nGETEX\r\n$2\r\nk1\r\n$2\r\nEX\r\n$5\r\n86400\r\n"
        );
    }

    struct Judge;
    impl CommandSource for Judge {
        fn write_command(&mut self, _: &mut BytesMut) -> Result<bool> {
            Ok(false)
        }
        fn judge(&mut self, reply: &RangeFrame, bytes: &[u8]) -> bool {
            reply_text(reply, bytes) == Some(b"OK".as_slice())
        }
    }

    /// Replies are taken one at a time, a partial reply waits, and the text is read in place.
    #[test]
    fn replies_decode_in_place() {
        let mut exchange = RespExchange::new(Judge);
        let mut input = BytesMut::from(&b"+OK\r\n-ERR no\r\n$3\r\nab"[..]);
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(true));
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(false));
        assert_eq!(exchange.read_reply(&mut input).unwrap(), None);
        input.extend_from_slice(b"c\r\n");
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(false));
        assert!(input.is_empty());
    }
}
