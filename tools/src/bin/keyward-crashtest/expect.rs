//! The rules an observation of one credential must agree with, as a pure function of what was
//! acknowledged before the request went out, what was still in doubt, and the expiry bounds.
//!
//! A credential must be **invalid** if a revocation that surely covered it was acknowledged
//! before the request was sent, if it was seen dead after an earlier restart, if its fixed end
//! (a session's `max_expires_at`, an API token's `expires_at`) had passed, or if it is a session
//! unused for longer than the idle timeout. It must be **valid** if no revocation of it had been
//! sent by the time the reply came and it was, with a margin, within the expiry that surely
//! survived the crash. Anything in between may go either way and is not checked.
//!
//! With `--cluster` an acknowledgement binds the host that gave it at once, and another host
//! only once it has surely reached that host's copy ([`Spread`]): a barrier after it proved so,
//! or [`Spread::within_ms`] has passed, after which a host that has not caught up must refuse
//! verifies rather than answer from its copy. Until then the other host may answer either way.

use keyward_client::CredentialKind;

use crate::clock::{rfc3339, Millis, Stamp};
use crate::model::{Credential, OpOutcome, RevokeOp};

/// How long before its sure expiry a credential must still verify: room for clock reads on
/// both sides of the socket.
pub(crate) const VALID_MARGIN_MS: Millis = 1_000;

/// When an observation was made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Taken before the request was sent.
    pub sent: Stamp,
    /// Taken after the reply arrived.
    pub replied: Stamp,
    /// Whether no other use of the credential could have been processed meanwhile, so its idle
    /// expiry cannot have moved during the window.
    pub lone: bool,
    /// The keywardd host that answered (always 0 without `--cluster`).
    pub host: usize,
}

/// What each host's copy surely holds, with `--cluster`: several keywardd hosts share etcd,
/// and a change one of them acknowledged reaches the others through their watches.
#[derive(Debug, Clone)]
pub(crate) struct Spread {
    /// Per host, a point in the tool's order of events: every change acknowledged before it,
    /// on any host, is in that host's copy (a barrier proved it).
    pub synced: Vec<u64>,
    /// How long after its acknowledgement a change must be in every host's copy, unless the
    /// host refuses verifies as stale: `max_staleness` and a margin.
    pub within_ms: Millis,
}

impl Spread {
    /// Whether a change acknowledged by `host` at `acked` had surely reached the copy of the
    /// host that answered over `w`.
    pub(crate) fn reached(&self, host: usize, acked: Stamp, w: &Window) -> bool {
        host == w.host
            || self.synced.get(w.host).is_some_and(|&s| acked.seq < s)
            || w.sent.ms >= acked.ms.saturating_add(self.within_ms)
    }
}

/// What an observation must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// It must be live, because of this acknowledged creation.
    Valid {
        /// The acknowledgement and the expiry it promised.
        because: String,
    },
    /// It must be dead.
    Invalid {
        /// Why.
        because: String,
        /// Whether by an acknowledged revocation (its record must be gone), not by expiry.
        revoked: bool,
    },
    /// Either answer is consistent with what was acknowledged.
    Either,
}

/// What an observation of `c` over `w` must show, given every revocation sent (`ops`), the
/// daemon's idle timeout and, with `--cluster`, what each host's copy surely holds.
pub(crate) fn expect(
    c: &Credential,
    ops: &[RevokeOp],
    w: Window,
    idle_ms: Millis,
    spread: Option<&Spread>,
) -> Expect {
    let reached = |host: usize, at: Stamp| spread.is_none_or(|s| s.reached(host, at, &w));
    // With several hosts, which one acknowledged (or saw) what.
    let by = |host: usize| match spread {
        Some(_) => format!(" by host {host}"),
        None => String::new(),
    };
    for a in c.revokes.iter().filter(|a| a.certain) {
        let op = &ops[a.op];
        if let OpOutcome::Acked(at) = op.outcome {
            // One another host acknowledged but this one may not have yet is in doubt (below).
            if at.seq < w.sent.seq && reached(op.host, at) {
                return Expect::Invalid {
                    because: format!(
                        "{} acknowledged{} in cycle {} at {}",
                        op.what,
                        by(op.host),
                        op.cycle,
                        rfc3339(at.ms)
                    ),
                    revoked: true,
                };
            }
        }
    }
    if let Some((cycle, host)) = c.dead_seen {
        let on = match (spread, &c.dead_doubt) {
            (None, _) => String::new(),
            (Some(_), None) => format!(" on host {host}"),
            (Some(_), Some(doubt)) => format!(
                " on host {host}, which settled as done what was in doubt: {doubt} (cut off or \
                 UNAVAILABLE)"
            ),
        };
        return Expect::Invalid {
            because: format!("found invalid after the restart of cycle {cycle}{on}"),
            revoked: false,
        };
    }
    if let Some(end) = c.hard_end.filter(|end| w.sent.ms >= *end) {
        return Expect::Invalid {
            because: format!("its fixed expiry {} had passed", rfc3339(end)),
            revoked: false,
        };
    }
    if c.kind == CredentialKind::Session && w.lone {
        let idle_end = c.touched_by.saturating_add(idle_ms);
        if w.sent.ms >= idle_end {
            return Expect::Invalid {
                because: format!(
                    "unused since {} at the latest, so idle-expired by {}",
                    rfc3339(c.touched_by),
                    rfc3339(idle_end)
                ),
                revoked: false,
            };
        }
    }
    let in_doubt = c.revokes.iter().any(|a| {
        let op = &ops[a.op];
        op.outcome != OpOutcome::Refused && op.sent.seq < w.replied.seq
    });
    if in_doubt {
        return Expect::Either;
    }
    let sure_until = match (c.sure_until, c.hard_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if sure_until.is_some_and(|until| w.replied.ms.saturating_add(VALID_MARGIN_MS) >= until) {
        return Expect::Either;
    }
    // Created on another host, and maybe not in this one's copy yet.
    if !reached(c.origin.host, c.origin.acked) {
        return Expect::Either;
    }
    let lifetime = match sure_until {
        Some(until) => format!("sure to live until {}", rfc3339(until)),
        None => "never expires".to_owned(),
    };
    Expect::Valid {
        because: format!(
            "{} acknowledged{} in cycle {} at {}, {lifetime}",
            c.origin.what,
            by(c.origin.host),
            c.origin.cycle,
            rfc3339(c.origin.acked.ms)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attached, InFlight, Origin};
    use keyward_client::Secret;
    use uuid::Uuid;

    const T0: Millis = 1_800_000_000_000;
    const IDLE: Millis = 30_000;

    fn at(seq: u64, ms: Millis) -> Stamp {
        Stamp { seq, ms }
    }

    /// A session acknowledged at T0 (seq 2), idle expiry T0+30 s, cap T0+120 s.
    fn session() -> Credential {
        Credential {
            id: Uuid::nil(),
            kind: CredentialKind::Session,
            token: Secret::new("kw_ses_live_x"),
            client: None,
            origin: Origin {
                what: "session issue",
                cycle: 1,
                sent: at(1, T0),
                acked: at(2, T0),
                host: 0,
            },
            hard_end: Some(T0 + 120_000),
            sure_until: Some(T0 + IDLE),
            touched_by: T0,
            verifies: InFlight::default(),
            unsealed: Vec::new(),
            revokes: Vec::new(),
            dead_seen: None,
            dead_doubt: None,
            dead_checks: 0,
            keeper: false,
            flagged: false,
            watched: true,
        }
    }

    fn window(seq: u64, ms: Millis) -> Window {
        Window {
            sent: at(seq, ms),
            replied: at(seq + 1, ms + 5),
            lone: true,
            host: 0,
        }
    }

    fn revoke(sent: u64, outcome: OpOutcome) -> RevokeOp {
        RevokeOp {
            what: "logout".into(),
            cycle: 1,
            sent: at(sent, T0),
            outcome,
            host: 0,
        }
    }

    fn is_valid(e: &Expect) -> bool {
        matches!(e, Expect::Valid { .. })
    }

    fn is_invalid(e: &Expect) -> bool {
        matches!(e, Expect::Invalid { .. })
    }

    /// A fresh session must verify until shortly before its acknowledged idle expiry.
    #[test]
    fn fresh_session_must_verify_within_its_idle_expiry() {
        let c = session();
        assert!(is_valid(&expect(
            &c,
            &[],
            window(10, T0 + 20_000),
            IDLE,
            None
        )));
        assert_eq!(
            expect(&c, &[], window(10, T0 + 29_500), IDLE, None),
            Expect::Either
        );
    }

    /// Unused past the idle timeout it must be dead, unless another use may have slid it.
    #[test]
    fn unused_session_idle_expires() {
        let c = session();
        assert!(is_invalid(&expect(
            &c,
            &[],
            window(10, T0 + IDLE),
            IDLE,
            None
        )));
        let crowded = Window {
            lone: false,
            ..window(10, T0 + IDLE)
        };
        assert_eq!(expect(&c, &[], crowded, IDLE, None), Expect::Either);
    }

    /// Past the cap it is dead however recently it was used.
    #[test]
    fn cap_is_final() {
        let mut c = session();
        c.touched_by = T0 + 119_000;
        c.sure_until = Some(T0 + 120_000);
        assert!(is_invalid(&expect(
            &c,
            &[],
            window(10, T0 + 120_000),
            IDLE,
            None
        )));
        assert_eq!(
            expect(&c, &[], window(10, T0 + 119_500), IDLE, None),
            Expect::Either
        );
    }

    /// An acknowledged revocation kills from its acknowledgement on; before that, and for a lost
    /// one, either answer is fine; a refused one changes nothing.
    #[test]
    fn revocations() {
        let mut c = session();
        c.revokes.push(Attached {
            op: 0,
            certain: true,
        });
        let acked = [revoke(3, OpOutcome::Acked(at(6, T0)))];
        assert!(is_invalid(&expect(
            &c,
            &acked,
            window(7, T0 + 1),
            IDLE,
            None
        )));
        assert_eq!(
            expect(&c, &acked, window(4, T0), IDLE, None),
            Expect::Either
        );
        assert!(is_valid(&expect(&c, &acked, window(1, T0), IDLE, None)));
        let lost = [revoke(3, OpOutcome::Maybe)];
        assert_eq!(
            expect(&c, &lost, window(7, T0 + 1), IDLE, None),
            Expect::Either
        );
        let refused = [revoke(3, OpOutcome::Refused)];
        assert!(is_valid(&expect(
            &c,
            &refused,
            window(7, T0 + 1),
            IDLE,
            None
        )));
    }

    /// A revoke-sessions that overlapped the issue leaves the session in doubt, not dead.
    #[test]
    fn uncertain_revocation_is_doubt() {
        let mut c = session();
        c.revokes.push(Attached {
            op: 0,
            certain: false,
        });
        let acked = [revoke(1, OpOutcome::Acked(at(3, T0)))];
        assert_eq!(
            expect(&c, &acked, window(7, T0 + 1), IDLE, None),
            Expect::Either
        );
    }

    /// Seen dead after a restart, it must stay dead.
    #[test]
    fn seen_dead_stays_dead() {
        let mut c = session();
        c.dead_seen = Some((3, 0));
        assert!(is_invalid(&expect(
            &c,
            &[],
            window(10, T0 + 1_000),
            IDLE,
            None
        )));
    }

    /// A key that never expires must always verify.
    #[test]
    fn non_expiring_key_always_verifies() {
        let mut c = session();
        c.kind = CredentialKind::TestKey;
        c.hard_end = None;
        c.sure_until = None;
        assert!(is_valid(&expect(
            &c,
            &[],
            window(10, T0 + 10_000_000),
            IDLE,
            None
        )));
    }

    /// With several hosts, what one host acknowledged binds another only once it has surely
    /// reached it: after a barrier, or once the staleness window has passed.
    #[test]
    fn other_hosts_are_bound_once_the_change_reached_them() {
        let mut spread = Spread {
            synced: vec![0, 0],
            within_ms: 2_000,
        };
        let on = |host, seq, ms| Window {
            host,
            ..window(seq, ms)
        };
        let c = session();
        assert!(is_valid(&expect(
            &c,
            &[],
            on(0, 10, T0 + 100),
            IDLE,
            Some(&spread)
        )));
        assert_eq!(
            expect(&c, &[], on(1, 10, T0 + 100), IDLE, Some(&spread)),
            Expect::Either
        );
        assert!(is_valid(&expect(
            &c,
            &[],
            on(1, 10, T0 + 2_000),
            IDLE,
            Some(&spread)
        )));
        spread.synced[1] = 3;
        assert!(is_valid(&expect(
            &c,
            &[],
            on(1, 10, T0 + 100),
            IDLE,
            Some(&spread)
        )));

        let mut c = session();
        c.revokes.push(Attached {
            op: 0,
            certain: true,
        });
        let mut acked = revoke(3, OpOutcome::Acked(at(6, T0 + 50)));
        acked.host = 1;
        let acked = [acked];
        let spread = Spread {
            synced: vec![0, 0],
            within_ms: 2_000,
        };
        assert!(is_invalid(&expect(
            &c,
            &acked,
            on(1, 7, T0 + 60),
            IDLE,
            Some(&spread)
        )));
        assert_eq!(
            expect(&c, &acked, on(0, 7, T0 + 60), IDLE, Some(&spread)),
            Expect::Either
        );
        assert!(is_invalid(&expect(
            &c,
            &acked,
            on(0, 7, T0 + 2_050),
            IDLE,
            Some(&spread)
        )));
    }
}
