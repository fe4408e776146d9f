//! Disabling and enabling: a client (with every credential it holds), one credential, an API
//! token's principal, or an admin key (host admins only).
//!
//! Nothing is deleted or rewritten: the store keeps a set of disabled ids beside the records,
//! and verify refuses a credential whose own id or owner's id is in it
//! ([`Denied::Disabled`]). So enabling restores exactly what was there: a session keeps its
//! expiry, and one that expired meanwhile stays expired.

use uuid::Uuid;

use super::{refuse, AdminContext, Change, Denied, Outcome, Uncommitted};
use crate::store::StoredKind;

impl Change<'_> {
    /// Disables (`disabled`) or enables `id`, in the admin key's environment; an admin key's id
    /// only for a host admin (`host_admin`), and otherwise `NOT_FOUND`, as `revoke` answers.
    /// Doing it twice is harmless. Returns `id` once durable.
    pub fn set_disabled(
        &self,
        ctx: AdminContext,
        host_admin: bool,
        id: Uuid,
        disabled: bool,
    ) -> Outcome<Uncommitted<Uuid>> {
        // One switch at a time: a second disable of an id must not be acknowledged on a
        // ticket taken before the first one's write.
        let _guard = self.lock_writes();
        let known = match self.store.principal(id)? {
            Some(p) => p.env() == ctx.env,
            None => match self.store.credential_by_id(id)? {
                Some(found) if found.record.kind == StoredKind::AdminKey => host_admin,
                Some(found) => found.record.env() == ctx.env,
                None => false,
            },
        };
        if !known {
            refuse!(Denied::NotFound("client, API token or credential"));
        }
        self.store.set_disabled(id, disabled, self.now())?;
        self.once_durable(id)
    }
}
