//! The keyward side: starting `keywardd`, filling it with sessions, and driving it with the
//! shared load generator.

mod client_driver;
pub(crate) mod daemon;
pub(crate) mod expiring;
pub(crate) mod http;
pub(crate) mod log_watch;
pub(crate) mod ops;
pub(crate) mod population;
mod wire;

use anyhow::Result;
use keyward_protocol::Secret;

use crate::load::{self, Outcome, Plan};
use ops::OpSource;
use wire::FrameExchange;

/// How the load generator talks to keywardd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Driver {
    /// Raw frames with a sliding window of requests in flight (the default).
    Frames,
    /// `keyward_client::Client::pipeline`, batch by batch, to measure the client's overhead.
    Client,
}

/// Runs one source per connection against `daemon` with `plan`, and hands the sources back.
///
/// # Errors
/// If a connection fails or a reply does not decode.
pub(crate) async fn measure<S: OpSource>(
    daemon: &daemon::Daemon,
    sources: Vec<S>,
    admin_key: Option<&Secret>,
    driver: Driver,
    plan: &Plan,
) -> Result<Outcome<S>> {
    match driver {
        Driver::Frames => {
            let streams = daemon.connect(sources.len()).await?;
            let links = streams
                .into_iter()
                .zip(sources)
                .map(|(stream, source)| (stream, FrameExchange::new(source, admin_key.cloned())))
                .collect();
            let outcome = load::run(links, plan).await?;
            Ok(Outcome {
                summary: outcome.summary,
                exchanges: outcome
                    .exchanges
                    .into_iter()
                    .map(FrameExchange::into_source)
                    .collect(),
                samples: outcome.samples,
            })
        }
        Driver::Client => {
            let mut links = Vec::with_capacity(sources.len());
            for source in sources {
                let mut client = daemon.client().await?;
                if let Some(key) = admin_key {
                    client.set_admin_key(key.clone());
                }
                links.push((client, source));
            }
            client_driver::run(links, plan).await
        }
    }
}
