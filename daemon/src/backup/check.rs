//! The consistency check a restore runs over a whole backup before it writes anything.
//!
//! The SHA-256 trailer only proves a file is whole: anyone can recompute it. So the trees
//! must also agree with one another, or a forged entry (say, a made-up token's hash pointing
//! at an existing admin key's record) would come back as a live credential that cannot be
//! listed or revoked. Checked: every record decodes; every credential id has exactly one
//! token hash, and `credential_ids` maps it back to that hash; every index entry points at a
//! record; every owner exists in the credential's environment; every disabled id is a
//! credential or a principal.

use std::collections::HashMap;
use uuid::Uuid;

use crate::store::{self, PrincipalRecord, StoredKind, TreeId};

/// What the check keeps of one credential record.
struct Credential {
    hash: [u8; 32],
    kind: StoredKind,
    env: store::StoredEnv,
    owner: Uuid,
}

/// Collects a backup's entries, then names the first inconsistency.
///
/// Memory is about a hundred bytes per credential, which is what a restore of that many
/// needs anyway.
#[derive(Default)]
pub(crate) struct Consistency {
    /// Credentials by id.
    credentials: HashMap<Uuid, Credential>,
    /// `credentials` keys seen, to refuse a hash given twice.
    hashes: std::collections::HashSet<[u8; 32]>,
    /// `credential_ids`: id → hash.
    ids: Vec<(Uuid, [u8; 32])>,
    /// Principals by id: kind and environment.
    principals: HashMap<Uuid, store::StoredEnv>,
    /// `owner_index`: (owner, credential id).
    owners: Vec<(Uuid, Uuid)>,
    /// `expiry_index`: credential ids.
    expiring: Vec<Uuid>,
    /// `disabled`: credential or principal ids.
    disabled: Vec<Uuid>,
    /// External ids held, by environment (live or not): each by one principal at most, since
    /// a restore files them in the index it rebuilds.
    external_ids: std::collections::HashSet<(bool, String)>,
    /// The first problem met while collecting, with the entry's number.
    problem: Option<String>,
}

fn id_of(bytes: &[u8]) -> Option<Uuid> {
    Uuid::from_slice(bytes).ok()
}

fn hex(hash: &[u8]) -> String {
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl Consistency {
    /// Takes entry number `n` (from 0) of the backup.
    pub(crate) fn add(&mut self, n: u64, tree: u8, key: &[u8], value: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        if let Err(why) = self.collect(tree, key, value) {
            self.problem = Some(format!("entry {}: {why}", n + 1));
        }
    }

    fn collect(&mut self, tree: u8, key: &[u8], value: &[u8]) -> Result<(), String> {
        let id = TreeId::from_u8(tree);
        let name = id.map_or("unknown", TreeId::name);
        let bad_key = || format!("a {name} key of {} bytes", key.len());
        let Some(id) = id else {
            return Err(format!("unknown tree {tree}"));
        };
        match id {
            TreeId::Credentials => {
                let hash: [u8; 32] = key.try_into().map_err(|_| bad_key())?;
                let (record, _) = store::decode_credential(value)
                    .map_err(|e| format!("credential {}… does not decode: {e}", hex(&hash)))?;
                if !self.hashes.insert(hash) {
                    return Err(format!("token hash {}… appears twice", hex(&hash)));
                }
                if record.kind == StoredKind::Session
                    && (record.expires_at.is_none() || record.max_expires_at.is_none())
                {
                    return Err(format!("session {} has no expiry", record.id));
                }
                let credential = Credential {
                    hash,
                    kind: record.kind,
                    env: record.env,
                    owner: record.owner,
                };
                if let Some(first) = self.credentials.insert(record.id, credential) {
                    return Err(format!(
                        "credential id {} has two token hashes ({}… and {}…)",
                        record.id,
                        hex(&first.hash),
                        hex(&hash)
                    ));
                }
            }
            TreeId::CredentialIds => {
                let id = id_of(key).ok_or_else(bad_key)?;
                let hash: [u8; 32] = value
                    .try_into()
                    .map_err(|_| format!("credential_ids maps {id} to {} bytes", value.len()))?;
                self.ids.push((id, hash));
            }
            TreeId::Principals => {
                let id = id_of(key).ok_or_else(bad_key)?;
                let record: PrincipalRecord = store::decode_principal(value)
                    .map_err(|e| format!("principal {id} does not decode: {e}"))?;
                if record.id != id {
                    return Err(format!("principal {id} holds the record of {}", record.id));
                }
                if let Some(external) = record.external_id.clone() {
                    let live = record.env == store::StoredEnv::Live;
                    if !self.external_ids.insert((live, external)) {
                        return Err(format!(
                            "principal {id} has an external id another principal holds"
                        ));
                    }
                }
                self.principals.insert(id, record.env);
            }
            TreeId::OwnerIndex => {
                let (owner, id) = (key.len() == 32)
                    .then(|| Some((id_of(&key[..16])?, id_of(&key[16..])?)))
                    .flatten()
                    .ok_or_else(bad_key)?;
                self.owners.push((owner, id));
            }
            TreeId::ExpiryIndex => {
                let id = (key.len() == 24)
                    .then(|| id_of(&key[8..]))
                    .flatten()
                    .ok_or_else(bad_key)?;
                self.expiring.push(id);
            }
            TreeId::Meta => {}
            TreeId::Disabled => {
                let id = id_of(key).ok_or_else(bad_key)?;
                if value.len() != 8 {
                    return Err(format!("disabled maps {id} to {} bytes", value.len()));
                }
                self.disabled.push(id);
            }
            TreeId::Usage => {
                if !store::is_usage_key(key) {
                    return Err(bad_key());
                }
                store::Used::decode(value)
                    .map_err(|e| format!("a usage entry does not decode: {e}"))?;
            }
            TreeId::Audit => {
                if key.len() != 24 {
                    return Err(bad_key());
                }
                store::decode_audit(value)
                    .map_err(|e| format!("an audit entry does not decode: {e}"))?;
            }
        }
        Ok(())
    }

    /// The first inconsistency, said for the operator; `Ok` if there is none.
    ///
    /// # Errors
    /// The first problem found, in entry order for what one entry shows, then tree by tree.
    pub(crate) fn finish(self) -> Result<(), String> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let mut mapped: HashMap<Uuid, [u8; 32]> = HashMap::with_capacity(self.ids.len());
        for (id, hash) in &self.ids {
            match self.credentials.get(id) {
                Some(c) if c.hash == *hash => {}
                Some(c) => {
                    return Err(format!(
                        "credential_ids maps {id} to token hash {}…, but its record is under {}…",
                        hex(hash),
                        hex(&c.hash)
                    ))
                }
                None => {
                    return Err(format!(
                        "credential_ids maps {id} to token hash {}…, which has no record",
                        hex(hash)
                    ))
                }
            }
            mapped.insert(*id, *hash);
        }
        // Sessions are found by hash (their id derives from it); every other kind is also
        // found by id, through `credential_ids`.
        let mut ids: Vec<&Uuid> = self.credentials.keys().collect();
        ids.sort();
        for id in ids {
            let c = &self.credentials[id];
            if c.kind != StoredKind::Session && !mapped.contains_key(id) {
                return Err(format!("credential {id} is missing from credential_ids"));
            }
            if c.kind == StoredKind::AdminKey {
                if !c.owner.is_nil() {
                    return Err(format!("admin key {id} has owner {}", c.owner));
                }
                continue;
            }
            match self.principals.get(&c.owner) {
                Some(env) if *env == c.env => {}
                Some(_) => {
                    return Err(format!(
                        "credential {id} and its owner {} belong to different environments",
                        c.owner
                    ))
                }
                None => return Err(format!("credential {id} has no owner {}", c.owner)),
            }
        }
        for (owner, id) in &self.owners {
            match self.credentials.get(id) {
                Some(c) if c.owner == *owner => {}
                _ => {
                    return Err(format!(
                        "owner_index files {id} under {owner}, which holds no such credential"
                    ))
                }
            }
        }
        for id in &self.expiring {
            if !self.credentials.contains_key(id) {
                return Err(format!("expiry_index lists {id}, which has no record"));
            }
        }
        for id in &self.disabled {
            if !self.credentials.contains_key(id) && !self.principals.contains_key(id) {
                return Err(format!(
                    "disabled lists {id}, which is neither a credential nor a principal"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::{test_authority, Acknowledge, NewIdentity};
    use crate::clock::ManualClock;
    use crate::config::Policy;
    use keyward_protocol::{Env, Scopes};

    type Entries = Vec<(u8, Vec<u8>, Vec<u8>)>;

    /// The entries a backup of a store holding every kind of credential carries.
    fn exported() -> Entries {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_700_000_000_000);
        let (auth, ctx) = test_authority(dir.path(), &clock, Policy::default(), Default::default());
        let change = auth.change();
        let client = change
            .create_client(ctx, None, None, &Scopes::new(), NewIdentity::none())
            .acknowledged()
            .unwrap()
            .unwrap();
        change
            .create_test_key(ctx, client.client_id)
            .acknowledged()
            .unwrap()
            .unwrap();
        let expiring = std::time::Duration::from_secs(3600);
        change
            .create_api_token(
                ctx,
                "ci",
                &Scopes::new(),
                Some(expiring),
                NewIdentity::none(),
            )
            .acknowledged()
            .unwrap()
            .unwrap();
        change
            .create_admin_key("other", Env::Test)
            .acknowledged()
            .unwrap()
            .unwrap();
        drop(change);
        let mut entries = Vec::new();
        auth.store()
            .export(|tree, key, value| {
                entries.push((tree, key.to_vec(), value.to_vec()));
                Ok(())
            })
            .unwrap();
        entries
    }

    fn check(entries: &Entries) -> Result<(), String> {
        let mut c = Consistency::default();
        for (n, (tree, key, value)) in entries.iter().enumerate() {
            c.add(n as u64, *tree, key, value);
        }
        c.finish()
    }

    /// A real backup passes; each kind of inconsistency is refused with a message naming it.
    #[test]
    fn inconsistencies_are_named() {
        let good = exported();
        check(&good).unwrap();
        let (credentials, ids) = (TreeId::Credentials as u8, TreeId::CredentialIds as u8);
        let without = |tree: TreeId| -> Entries {
            let mut e = good.clone();
            let at = e.iter().position(|(t, ..)| *t == tree as u8).unwrap();
            e.remove(at);
            e
        };
        let damage: [(Entries, &str); 7] = [
            (
                without(TreeId::CredentialIds),
                "missing from credential_ids",
            ),
            (without(TreeId::Principals), "has no owner"),
            (
                {
                    // The record `credential_ids` points at first.
                    let mut e = good.clone();
                    let hash = e.iter().find(|(t, ..)| *t == ids).unwrap().2.clone();
                    e.retain(|(t, k, _)| !(*t == credentials && *k == hash));
                    e
                },
                "which has no record",
            ),
            (
                {
                    let mut e = good.clone();
                    let first = e.iter().find(|(t, ..)| *t == credentials).unwrap().clone();
                    e.push((credentials, vec![9; 32], first.2));
                    e
                },
                "two token hashes",
            ),
            (
                {
                    let mut e = good.clone();
                    e.push((
                        TreeId::OwnerIndex as u8,
                        [[7u8; 16], [8u8; 16]].concat(),
                        Vec::new(),
                    ));
                    e
                },
                "owner_index files",
            ),
            (
                {
                    let mut e = good.clone();
                    e.push((TreeId::Disabled as u8, vec![7u8; 16], vec![0; 8]));
                    e
                },
                "neither a credential nor a principal",
            ),
            (
                {
                    let mut e = good.clone();
                    let at = e.iter().position(|(t, ..)| *t == credentials).unwrap();
                    e[at].2 = vec![2, 0xff];
                    e
                },
                "does not decode",
            ),
        ];
        for (entries, says) in damage {
            let why = check(&entries).unwrap_err();
            assert!(why.contains(says), "{why} (wanted {says})");
        }
    }

    /// An external id held by two principals of one environment is refused (a restore files
    /// each in an index that has room for one); in two environments it is fine.
    #[test]
    fn an_external_id_held_twice_is_refused() {
        let principal = |id: u128, env: store::StoredEnv| {
            let record = PrincipalRecord {
                id: Uuid::from_u128(id),
                kind: store::PrincipalKind::Client,
                env,
                label: None,
                scopes: Vec::new(),
                max_sessions: None,
                created_at: 0,
                external_id: Some("user-1".into()),
                meta: Vec::new(),
            };
            let bytes = store::encode_principal(&record).unwrap();
            (
                TreeId::Principals as u8,
                record.id.as_bytes().to_vec(),
                bytes,
            )
        };
        let live = principal(1, store::StoredEnv::Live);
        check(&vec![live.clone(), principal(2, store::StoredEnv::Test)]).unwrap();
        let why = check(&vec![live, principal(3, store::StoredEnv::Live)]).unwrap_err();
        assert!(why.contains("external id another principal holds"), "{why}");
    }
}
