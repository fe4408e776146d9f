//! The rules an observation of one credential must agree with, as a pure function of what was
//! acknowledged before the request went out, what was still in doubt, and the expiry bounds.
//!
//! A credential must be **invalid** if a revocation that surely covered it was acknowledged
//! before the request was sent, if it was seen dead after an earlier restart, if its fixed end
//! (a session's `max_expires_at`, an API token's `expires_at`) had passed, or if it is a session
//! unused for longer than the idle timeout. It must be **valid** if no revocation of it had been
//! sent by the time the reply came and it was, with a margin, within the expiry that surely
//! survived the crash. Anything in between may go either way and is not checked.

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

/// What an observation of `c` over `w` must show, given every revocation sent (`ops`) and the
/// daemon's idle timeout.
pub(crate) fn expect(c: &Credential, ops: &[RevokeOp], w: Window, idle_ms: Millis) -> Expect {
    for a in c.revokes.iter().filter(|a| a.certain) {
        let op = &ops[a.op];
        if let OpOutcome::Acked(at) = op.outcome {
            if at.seq < w.sent.seq {
                return Expect::Invalid {
                    because: format!(
                        "{} acknowledged in cycle {} at {}",
                        op.what,
                        op.cycle,
                        rfc3339(at.ms)
                    ),
                    revoked: true,
                };
            }
        }
    }
    if let Some(cycle) = c.dead_seen {
        return Expect::Invalid {
            because: format!("found invalid after the restart of cycle {cycle}"),
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
    let lifetime = match sure_until {
        Some(until) => format!("sure to live until {}", rfc3339(until)),
        None => "never expires".to_owned(),
    };
    Expect::Valid {
        because: format!(
            "{} acknowledged in cycle {} at {}, {lifetime}",
            c.origin.what,
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
            },
            hard_end: Some(T0 + 120_000),
            sure_until: Some(T0 + IDLE),
            touched_by: T0,
            verifies: InFlight::default(),
            unsealed: Vec::new(),
            revokes: Vec::new(),
            dead_seen: None,
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
        }
    }

    fn revoke(sent: u64, outcome: OpOutcome) -> RevokeOp {
        RevokeOp {
            what: "logout".into(),
            cycle: 1,
            sent: at(sent, T0),
            outcome,
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
        assert!(is_valid(&expect(&c, &[], window(10, T0 + 20_000), IDLE)));
        assert_eq!(
            expect(&c, &[], window(10, T0 + 29_500), IDLE),
            Expect::Either
        );
    }

    /// Unused past the idle timeout it must be dead, unless another use may have slid it.
    #[test]
    fn unused_session_idle_expires() {
        let c = session();
        assert!(is_invalid(&expect(&c, &[], window(10, T0 + IDLE), IDLE)));
        let crowded = Window {
            lone: false,
            ..window(10, T0 + IDLE)
        };
        assert_eq!(expect(&c, &[], crowded, IDLE), Expect::Either);
    }

    /// Past the cap it is dead however recently it was used.
    #[test]
    fn cap_is_final() {
        let mut c = session();
        c.touched_by = T0 + 119_000;
        c.sure_until = Some(T0 + 120_000);
        assert!(is_invalid(&expect(&c, &[], window(10, T0 + 120_000), IDLE)));
        assert_eq!(
            expect(&c, &[], window(10, T0 + 119_500), IDLE),
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
        assert!(is_invalid(&expect(&c, &acked, window(7, T0 + 1), IDLE)));
        assert_eq!(expect(&c, &acked, window(4, T0), IDLE), Expect::Either);
        assert!(is_valid(&expect(&c, &acked, window(1, T0), IDLE)));
        let lost = [revoke(3, OpOutcome::Maybe)];
        assert_eq!(expect(&c, &lost, window(7, T0 + 1), IDLE), Expect::Either);
        let refused = [revoke(3, OpOutcome::Refused)];
        assert!(is_valid(&expect(&c, &refused, window(7, T0 + 1), IDLE)));
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
        assert_eq!(expect(&c, &acked, window(7, T0 + 1), IDLE), Expect::Either);
    }

    /// Seen dead after a restart, it must stay dead.
    #[test]
    fn seen_dead_stays_dead() {
        let mut c = session();
        c.dead_seen = Some(3);
        assert!(is_invalid(&expect(&c, &[], window(10, T0 + 1_000), IDLE)));
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
            IDLE
        )));
    }
}
