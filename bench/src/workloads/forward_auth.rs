//! `forward-auth`: requests through a real nginx whose location asks keywardd's `GET /v1/auth`
//! through `auth_request` (a random preloaded session per request, as a bearer token), against
//! the same static file from a location without auth on the same nginx, in the same run, on
//! keep-alive client connections. Issue 14 §6 wants the first at 0.6x the second or better.

use anyhow::Result;
use bytes::BytesMut;
use keyward_protocol::Secret;
use std::sync::Arc;

use super::{seeds, Bench};
use crate::keyward::http;
use crate::keyward::{daemon::Daemon, population::Population};
use crate::load::{self, Exchange};
use crate::nginx::{Nginx, AUTH_PATH, OPEN_PATH};
use crate::report::{Row, Shape, Target, Workload};

/// Measures the protected location (a keyward row) and then the open one (an nginx row) at
/// `shape`, through one nginx started in front of `daemon`.
///
/// # Errors
/// If nginx cannot be started, a connection fails, or a response does not parse.
pub(crate) async fn run(
    bench: &mut Bench,
    daemon: &Daemon,
    population: &Population,
    shape: Shape,
) -> Result<()> {
    if !bench.settings.nginx.is_file() {
        let why = format!(
            "no nginx at {} (apt-get install nginx)",
            bench.settings.nginx.display()
        );
        for target in [Target::Keyward, Target::Nginx] {
            let row = Row::skipped(Workload::ForwardAuth, target, Some(shape), &why);
            bench.reporter.emit(row);
        }
        return Ok(());
    }
    let nginx = Nginx::start(&bench.settings.nginx, &daemon.http_socket()).await?;
    for (target, path) in [(Target::Keyward, AUTH_PATH), (Target::Nginx, OPEN_PATH)] {
        let streams = http::connect(&nginx.socket(), shape.connections).await?;
        let links = streams
            .into_iter()
            .zip(seeds(shape.connections))
            .map(|(stream, seed)| {
                let gets = ProxiedGets::new(path, Arc::clone(&population.tokens), seed);
                (stream, gets)
            })
            .collect();
        let outcome = load::run(links, &bench.plan(shape.pipeline)).await?;
        let rss = match target {
            Target::Keyward => daemon.rss_mib().ok(),
            _ => None,
        };
        let mut row = Row::measured(Workload::ForwardAuth, target, shape, &outcome.summary, rss);
        row.extra.sessions = Some(population.tokens.len() as u64);
        bench.reporter.emit(row);
    }
    Ok(())
}

/// `GET path` with a bearer token picked at random from a shared set, forever; a 200 is a
/// success. The open location ignores the token, so both locations get the same bytes.
#[derive(Debug)]
pub(crate) struct ProxiedGets {
    path: &'static str,
    tokens: Arc<Vec<Secret>>,
    rng: fastrand::Rng,
}

impl ProxiedGets {
    /// Requests for `path` with tokens drawn from `tokens` by a generator seeded with `seed`.
    pub fn new(path: &'static str, tokens: Arc<Vec<Secret>>, seed: u64) -> Self {
        assert!(
            !tokens.is_empty(),
            "forward-auth needs at least one session"
        );
        ProxiedGets {
            path,
            tokens,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

impl Exchange for ProxiedGets {
    fn write_request(&mut self, out: &mut BytesMut) -> Result<bool> {
        let token = &self.tokens[self.rng.usize(..self.tokens.len())];
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: app\r\nauthorization: Bearer ");
        out.extend_from_slice(token.expose().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        Ok(true)
    }

    fn read_reply(&mut self, input: &mut BytesMut) -> Result<Option<bool>> {
        http::take_kept_alive(input, "nginx")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request is one whole GET that httparse reads back, with the token as a bearer.
    #[test]
    fn request_encoding() {
        let mut gets = ProxiedGets::new(AUTH_PATH, Arc::new(vec![Secret::new("kw_ses_x")]), 1);
        let mut out = BytesMut::new();
        assert!(gets.write_request(&mut out).unwrap());
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(&out).unwrap() else {
            panic!("partial request");
        };
        assert_eq!(head, out.len());
        assert_eq!(request.method, Some("GET"));
        assert_eq!(request.path, Some(AUTH_PATH));
        let auth = request.headers.iter().find(|h| h.name == "authorization");
        assert_eq!(auth.map(|h| h.value), Some(&b"Bearer kw_ses_x"[..]));
    }
}
