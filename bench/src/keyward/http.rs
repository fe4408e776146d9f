//! Speaking keywardd's HTTP/JSON API on `http.sock`: an [`Exchange`] that writes
//! `POST /v1/verify` requests over one keep-alive HTTP/1.1 connection and reads the responses
//! with `httparse`.
//!
//! Request bytes are written directly; responses are parsed, never scanned by hand. A response
//! must carry a `Content-Length` (the daemon's JSON replies always do) and must keep the
//! connection open, since the load generator cannot reconnect in the middle of a run.

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use keyward_protocol::Secret;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixStream;

use crate::load::Exchange;

/// Response headers `httparse` may see in one response; the daemon sends a handful.
const MAX_HEADERS: usize = 32;

/// Opens `n` connections to the HTTP socket at `socket`.
///
/// # Errors
/// If any connection fails.
pub(crate) async fn connect(socket: &Path, n: usize) -> Result<Vec<UnixStream>> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(
            UnixStream::connect(socket)
                .await
                .with_context(|| format!("connecting to {}", socket.display()))?,
        );
    }
    Ok(streams)
}

/// Appends `POST /v1/verify` with the body `{"token":"…"}` to `out`.
///
/// # Errors
/// If the token cannot be written as a JSON string (it always can).
pub(crate) fn encode_verify(token: &str, out: &mut BytesMut) -> Result<()> {
    let quoted = serde_json::to_string(token)?;
    let body_len = "{\"token\":}".len() + quoted.len();
    out.extend_from_slice(b"POST /v1/verify HTTP/1.1\r\nhost: keyward\r\n");
    out.extend_from_slice(b"content-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(body_len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n{\"token\":");
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(b"}");
    Ok(())
}

/// What the harness needs of one whole response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The status code.
    pub status: u16,
    /// Whether the server said it will close the connection after this response.
    pub closing: bool,
}

/// Takes one whole response from `input`, if there is one, and says whether it was a 200.
///
/// # Errors
/// As [`take_response`], or if `server` ended keep-alive: a run measures open connections.
pub(crate) fn take_kept_alive(input: &mut BytesMut, server: &str) -> Result<Option<bool>> {
    let Some(reply) = take_response(input)? else {
        return Ok(None);
    };
    if reply.closing {
        bail!(
            "{server} ended keep-alive (status {}): the run needs open connections",
            reply.status
        );
    }
    Ok(Some(reply.status == 200))
}

/// Takes one whole response off the front of `input`: `None` if more bytes are needed.
///
/// # Errors
/// If the head does not parse, or the body's length is not given by a `Content-Length`.
pub(crate) fn take_response(input: &mut BytesMut) -> Result<Option<Reply>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response
        .parse(input)
        .context("an HTTP response that does not parse")?
    {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let status = response.code.context("an HTTP response without a status")?;
    let mut body_len = None;
    let mut closing = response.version == Some(0);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).ok();
            body_len = Some(
                text.and_then(|t| t.trim().parse::<usize>().ok())
                    .context("an HTTP response with a bad Content-Length")?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("a chunked HTTP response: the harness reads Content-Length bodies only");
        } else if header.name.eq_ignore_ascii_case("connection") {
            closing = header
                .value
                .split(|b| *b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let body_len = body_len.context("an HTTP response without a Content-Length")?;
    if input.len() < head_len + body_len {
        return Ok(None);
    }
    input.advance(head_len + body_len);
    Ok(Some(Reply { status, closing }))
}

/// Verifies a token picked at random from a shared set, forever, as `POST /v1/verify`; a 200
/// is a success.
#[derive(Debug)]
pub(crate) struct HttpVerifies {
    tokens: Arc<Vec<Secret>>,
    rng: fastrand::Rng,
}

impl HttpVerifies {
    /// Verifies drawn from `tokens` with a generator seeded by `seed`.
    pub fn new(tokens: Arc<Vec<Secret>>, seed: u64) -> Self {
        assert!(!tokens.is_empty(), "verify needs at least one session");
        HttpVerifies {
            tokens,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl Exchange for HttpVerifies {
    fn write_request(&mut self, out: &mut BytesMut) -> Result<bool> {
        let token = &self.tokens[self.rng.usize(..self.tokens.len())];
        encode_verify(token.expose(), out)?;
        Ok(true)
    }

    fn read_reply(&mut self, input: &mut BytesMut) -> Result<Option<bool>> {
        take_kept_alive(input, "keywardd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
content-length: 13\r\ndate: Sun, 06 Dec 2026 00:30:00 GMT\r\n\r\n{\"kind\":\"x\"}\n";

    const DENIED: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer \
realm=\"keyward\", error=\"invalid_token\"\r\nContent-Length: 2\r\n\r\n{}";

    /// The request is a whole HTTP/1.1 POST that httparse reads back, with a body of exactly its
    /// Content-Length holding the token as JSON.
    #[test]
    fn request_encoding() {
        let mut out = BytesMut::new();
        encode_verify("kw_ses_live_abc", &mut out).unwrap();
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(&out).unwrap() else {
            panic!("partial request");
        };
        assert_eq!(request.method, Some("POST"));
        assert_eq!(request.path, Some("/v1/verify"));
        assert_eq!(request.version, Some(1));
        let length = request
            .headers
            .iter()
            .find(|h| h.name == "content-length")
            .map(|h| {
                std::str::from_utf8(h.value)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .unwrap();
        let body = &out[head..];
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json, serde_json::json!({"token": "kw_ses_live_abc"}));
        // A second request follows the first on the same connection.
        encode_verify("kw_\"odd\\", &mut out).unwrap();
        let mut second = out.split_off(head + length);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(&second).unwrap() else {
            panic!("partial request");
        };
        let json: serde_json::Value = serde_json::from_slice(&second.split_off(head)).unwrap();
        assert_eq!(json["token"], "kw_\"odd\\");
    }

    /// Responses fed a byte at a time are taken only when whole, head and body.
    #[test]
    fn split_reads() {
        let mut input = BytesMut::new();
        for (i, byte) in OK.iter().enumerate() {
            assert_eq!(take_response(&mut input).unwrap(), None, "at byte {i}");
            input.extend_from_slice(&[*byte]);
        }
        let reply = take_response(&mut input).unwrap().unwrap();
        assert_eq!((reply.status, reply.closing), (200, false));
        assert!(input.is_empty());
    }

    /// Keep-alive: responses back to back in one read are taken one by one, leaving the start of
    /// the next; a `Connection: close` is reported and ends the run rather than miscounting.
    #[test]
    fn keep_alive() {
        let mut input = BytesMut::new();
        input.extend_from_slice(OK);
        input.extend_from_slice(DENIED);
        input.extend_from_slice(&OK[..20]);
        let mut exchange = HttpVerifies::new(Arc::new(vec![Secret::new("kw_x")]), 1);
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(true));
        assert_eq!(exchange.read_reply(&mut input).unwrap(), Some(false));
        assert_eq!(exchange.read_reply(&mut input).unwrap(), None);
        assert_eq!(&input[..], &OK[..20]);

        let mut closing = BytesMut::from(
            &b"HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, Close\r\n\
content-length: 0\r\n\r\n"[..],
        );
        assert!(
            take_response(&mut closing.clone())
                .unwrap()
                .unwrap()
                .closing
        );
        assert!(exchange.read_reply(&mut closing).is_err());
    }

    /// Bytes that are not HTTP, a chunked body, or a missing length are errors, not waits.
    #[test]
    fn bad_responses_are_errors() {
        for bad in [
            &b"RESP+PONG\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        ] {
            let mut input = BytesMut::from(bad);
            assert!(take_response(&mut input).is_err(), "{bad:?}");
        }
    }
}
