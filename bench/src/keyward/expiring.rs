//! Sessions that expire at chosen moments, so that a long run's sweeps have something to delete.
//!
//! A session's expiry is fixed when it is issued, from the lifetimes in force at that moment, and
//! a reload changes those lifetimes for sessions issued from then on (keywardd's README,
//! "Reload"). So each cohort is issued right after a reload that sets the idle timeout and the
//! lifetime to the time left until the cohort should expire, and the serving settings are put
//! back once the last cohort is issued. Nothing verifies these sessions: they are the sign-ins
//! whose users never come back, and they run out and are swept on their own.
//!
//! The alternative, one short idle timeout for the whole run, would change what is measured:
//! keywardd persists a verify's slide once it moves the expiry by the lesser of a minute and 1%
//! of the idle timeout, so with a timeout of minutes most verifies of a busy session would write.

use anyhow::Result;
use std::time::{Duration, Instant};

use super::daemon::{self, Daemon};
use super::population::{self, Population};

/// The shortest lifetime a cohort is given, should its moment be (nearly) past when its turn
/// comes: keywardd refuses an idle timeout under 100 ms, and a shorter lifetime would let
/// sessions expire while the cohort is still being issued.
const SHORTEST: Duration = Duration::from_secs(1);

/// Sessions that should all expire at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cohort {
    /// When they should expire (they do so up to the time their issue takes later).
    pub expires_at: Instant,
    /// How many.
    pub sessions: u64,
}

/// Issues every cohort for `population`'s clients, each under lifetimes that end at its
/// `expires_at` (or [`SHORTEST`] from now, if later), then reloads `serving`. Returns how many
/// sessions were issued.
///
/// # Errors
/// If a reload is refused or not confirmed, or an issue fails.
pub(crate) async fn issue(
    daemon: &Daemon,
    population: &Population,
    serving: &daemon::Settings,
    cohorts: &[Cohort],
) -> Result<u64> {
    let mut issued = 0;
    for cohort in cohorts.iter().filter(|c| c.sessions > 0) {
        let left = cohort
            .expires_at
            .saturating_duration_since(Instant::now())
            .max(SHORTEST);
        let expiring = daemon::Settings {
            idle_timeout: left,
            max_lifetime: left,
            ..serving.clone()
        };
        daemon.reload(&expiring).await?;
        let tokens =
            population::issue(daemon, population, cohort.sessions, "expiring sessions").await?;
        issued += tokens.len() as u64;
    }
    daemon.reload(serving).await?;
    Ok(issued)
}
