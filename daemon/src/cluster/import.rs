//! Writing a whole store into an empty etcd prefix: what `keywardd migrate --to-etcd` (from a
//! single-host data dir) and `keywardd restore` with `backend = "etcd"` (from a backup file)
//! share.
//!
//! Both read the same stream of entries, a backup's trees ([`TreeId`]), and write them under
//! the [`keys`] layout: a principal as `p/<id>` and its external id's claim `x/<env>/<id>`,
//! a credential as `c/<owner>/<id>` (its token hash, never a token, then its record) and a
//! session's idle expiry as `e/<id>`, a disabled id as `d/<id>`. Records are decoded and
//! encoded again, so an older record version goes in as the current one.
//!
//! What is left out, and said so: expired sessions (they would no longer verify), the index
//! trees (each host derives them from the records), and what each host keeps for itself (the
//! audit log, usage counts, sweep counters).
//!
//! The prefix must hold no key when the import begins. Writes go in transactions of at most
//! [`BATCH`] puts (etcd refuses more than 128 operations in one by default), each put
//! guarded by a compare that its key does not exist yet, so a writer that appears meanwhile
//! stops the import rather than being overwritten. Afterwards every section is counted at one
//! revision and compared with what was written.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use uuid::Uuid;

use super::keys::{self, Keys};
use super::load::range_end;
use super::ClusterError;
use crate::backup::RestoreError;
use crate::config::{Backend, Config, EtcdConfig};
use crate::host::lock::{self, LockError};
use crate::store::{self, Store, StoreError, StoredKind, TreeId};

/// Puts per transaction: under etcd's default `--max-txn-ops` of 128.
pub const BATCH: usize = 100;
/// Bytes of keys and values per transaction: well under etcd's default request limit of
/// 1.5 MiB.
const BATCH_BYTES: usize = 512 * 1024;
/// The marker a data dir holding a copy of etcd carries (see `load.rs`).
const COPY_MARKER: &str = "etcd-copy";

/// Why an import into etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The config does not name the etcd backend.
    #[error(
        "{0} writes into etcd, and the config names no etcd cluster: set backend = \"etcd\", \
         etcd_endpoints and etcd_prefix in the file given with --config, as the daemon reads them"
    )]
    NotEtcd(&'static str),
    /// etcd could not be reached, or a TLS or password file read.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The prefix already holds keys.
    #[error(
        "etcd prefix {prefix:?} already holds {keys} keys; {what} writes only into an empty \
         prefix and never merges or overwrites (--force does not change that). Pick an unused \
         etcd_prefix, or, if what is there is not needed, stop every keywardd that uses it and \
         delete it with `etcdctl del --prefix {prefix}`"
    )]
    NotEmpty {
        /// What refused.
        what: &'static str,
        /// The prefix.
        prefix: String,
        /// How many keys it holds.
        keys: i64,
    },
    /// The data dir is in use by a running daemon, or unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The data dir holds no single-host store.
    #[error(
        "data dir {} holds no single-host store ({why}); pass the data dir of the keywardd to \
         migrate with --data-dir",
        dir.display()
    )]
    NoStore {
        /// The data dir.
        dir: PathBuf,
        /// What was found.
        why: &'static str,
    },
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    /// The backup file is unreadable, damaged or inconsistent.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// A write failed part-way.
    #[error(
        "writing into etcd failed after {written} keys: {detail}. The prefix {prefix:?} now \
         holds part of the data: stop every keywardd that uses it, delete it with \
         `etcdctl del --prefix {prefix}`, and run this again"
    )]
    Write {
        /// The prefix.
        prefix: String,
        /// Keys written before the failure.
        written: u64,
        /// Why.
        detail: String,
    },
    /// What etcd holds afterwards is not what was written.
    #[error(
        "etcd prefix {prefix:?} does not hold what was written: {detail}. Something else wrote \
         or deleted keys under it meanwhile, or a write was lost; do not start keywardd on it: \
         stop every keywardd that uses it, delete it with `etcdctl del --prefix {prefix}`, and \
         run this again"
    )]
    Mismatch {
        /// The prefix.
        prefix: String,
        /// Which counts differ.
        detail: String,
    },
}

/// How many keys of each kind an import wrote, and what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Principals (`p/`): clients and API tokens.
    pub principals: u64,
    /// External-id claims (`x/`).
    pub claims: u64,
    /// Credentials (`c/`), sessions included.
    pub credentials: u64,
    /// Of which sessions; each also has an idle expiry (`e/`).
    pub sessions: u64,
    /// Session expiries (`e/`).
    pub expiries: u64,
    /// Disabled ids (`d/`).
    pub disabled: u64,
    /// Sessions left out because they had expired.
    pub expired_sessions: u64,
    /// Audit entries left out (each host keeps its own log).
    pub audit: u64,
    /// Usage entries left out (each host counts its own).
    pub usage: u64,
}

impl Counts {
    fn keys(&self) -> u64 {
        self.principals + self.claims + self.credentials + self.expiries + self.disabled
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// What was written and left out.
    pub counts: Counts,
    /// The prefix written into.
    pub prefix: String,
    /// The revision at which etcd was counted.
    pub revision: i64,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "wrote into etcd prefix {:?}:", self.prefix)?;
        writeln!(
            f,
            "  principals   {:>8}  (p/; {} with an external id, x/)",
            c.principals, c.claims
        )?;
        writeln!(
            f,
            "  credentials  {:>8}  (c/; {} of them sessions, each with its expiry, e/)",
            c.credentials, c.sessions
        )?;
        writeln!(f, "  disabled ids {:>8}  (d/)", c.disabled)?;
        writeln!(
            f,
            "checked at etcd revision {}: the prefix holds exactly these {} keys",
            self.revision,
            c.keys()
        )?;
        write!(
            f,
            "left out: {} expired sessions (they would no longer verify), {} audit entries and \
             {} usage entries (each host keeps its own)",
            c.expired_sessions, c.audit, c.usage
        )
    }
}

/// What to do after a restore into etcd.
pub const AFTER_RESTORE: &str = "next: start keywardd with this config (backend = \"etcd\", \
     this etcd_prefix) on every host; each loads its copy from etcd at start";

/// What to do after a migration: the daemon refuses a data dir that holds a single-host store.
pub fn after_migrate(config: &Config) -> String {
    format!(
        "next: start keywardd with this config on every host, each with an EMPTY data dir \
         (data_dir or --data-dir), never {}: keywardd with backend = \"etcd\" refuses a data \
         dir that holds a single-host store. Keep {} unchanged until the hosts serve from etcd; \
         it is the way back to backend = \"local\"",
        config.data_dir.display(),
        config.data_dir.display()
    )
}

/// The etcd settings of `config`, for `what`.
fn etcd_of<'a>(config: &'a Config, what: &'static str) -> Result<&'a EtcdConfig, ImportError> {
    match &config.backend {
        Backend::Etcd(etcd) => Ok(etcd),
        Backend::Local => Err(ImportError::NotEtcd(what)),
    }
}

/// `keywardd migrate --to-etcd`: writes the single-host store in the config's data dir into
/// the config's etcd prefix, which must be empty, and checks the counts.
///
/// The data dir is claimed as the daemon claims it, so it cannot be migrated while a daemon
/// serves from it; it is left as it was.
///
/// # Errors
/// See [`ImportError`].
pub fn migrate(config: &Config) -> Result<ImportReport, ImportError> {
    const WHAT: &str = "migrate --to-etcd";
    let etcd = etcd_of(config, WHAT)?;
    let dir = &config.data_dir;
    // Before the claim, which would create a missing dir.
    if !dir.join("db").is_dir() {
        return Err(ImportError::NoStore {
            dir: dir.clone(),
            why: "no db/ in it",
        });
    }
    let _lock = lock::claim(dir)?;
    if dir.join(COPY_MARKER).exists() {
        return Err(ImportError::NoStore {
            dir: dir.clone(),
            why: "it holds a copy of etcd, made by a keywardd with backend = \"etcd\"",
        });
    }
    let store = Store::open(dir)?;
    if store.is_empty()? {
        return Err(ImportError::NoStore {
            dir: dir.clone(),
            why: "it holds no credential and no principal",
        });
    }
    let mut writer = Writer::connect(etcd, WHAT)?;
    let mut failed = None;
    let exported = store.export(|tree, key, value| {
        writer.add(tree, key, value).map_err(|e| {
            failed = Some(e);
            std::io::Error::other("the import into etcd failed")
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    exported?;
    let report = writer.finish()?;
    store.close()?;
    Ok(report)
}

/// `keywardd restore FILE` with `backend = "etcd"`: checks the whole backup as a restore into
/// a data dir does, then writes it into the config's etcd prefix, which must be empty, and
/// checks the counts.
///
/// # Errors
/// See [`ImportError`].
pub fn restore(file: &Path, etcd: &EtcdConfig) -> Result<ImportReport, ImportError> {
    const WHAT: &str = "restore";
    crate::backup::check_file(file)?;
    let mut writer = Writer::connect(etcd, WHAT)?;
    let mut reader = crate::backup::open_file(file)?;
    let mut n = 0;
    while let Some(entry) = reader
        .next_entry(n)
        .map_err(|source| RestoreError::Format {
            file: file.to_owned(),
            source,
        })?
    {
        writer.add(entry.tree, &entry.key, &entry.value)?;
        n += 1;
    }
    writer.finish()
}

/// [`restore`] into the etcd prefix `config` names.
///
/// # Errors
/// See [`ImportError`].
pub fn restore_into(config: &Config, file: &Path) -> Result<ImportReport, ImportError> {
    restore(file, etcd_of(config, "restore")?)
}

/// Puts not yet sent.
#[derive(Default)]
struct Batch {
    compares: Vec<Compare>,
    ops: Vec<TxnOp>,
    bytes: usize,
}

/// Writes entries into an empty prefix in bounded transactions.
struct Writer {
    runtime: tokio::runtime::Runtime,
    client: etcd_client::Client,
    keys: Keys,
    timeout: Duration,
    now: i64,
    batch: Batch,
    /// Keys committed so far.
    written: u64,
    counts: Counts,
    /// Expired sessions left out: their disabled entries go too.
    skipped: HashSet<Uuid>,
    /// Disabled ids, written last, once every credential left out is known.
    disabled: Vec<(Uuid, i64)>,
    /// Leases granted for sessions' caps, by the end of their minute.
    leases: std::collections::HashMap<i64, i64>,
}

impl Writer {
    /// Connects and checks the prefix is empty.
    fn connect(config: &EtcdConfig, what: &'static str) -> Result<Writer, ImportError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ImportError::Store(StoreError::Io(e)))?;
        let client = runtime.block_on(super::connect::connect(config.clone()))?;
        let writer = Writer {
            runtime,
            client,
            keys: Keys::new(&config.prefix),
            timeout: config.timeout,
            now: crate::clock::Clock::now(&crate::clock::SystemClock),
            batch: Batch::default(),
            written: 0,
            counts: Counts::default(),
            skipped: HashSet::new(),
            disabled: Vec::new(),
            leases: std::collections::HashMap::new(),
        };
        let (held, _) = writer.count(writer.keys.prefix().as_bytes(), None)?;
        if held > 0 {
            return Err(ImportError::NotEmpty {
                what,
                prefix: config.prefix.clone(),
                keys: held,
            });
        }
        Ok(writer)
    }

    fn failed(&self, detail: String) -> ImportError {
        ImportError::Write {
            prefix: self.keys.prefix().to_owned(),
            written: self.written,
            detail,
        }
    }

    /// How many keys start with `prefix`, at `revision` (the latest if `None`), and the
    /// revision read.
    fn count(&self, prefix: &[u8], revision: Option<i64>) -> Result<(i64, i64), ImportError> {
        let mut options = GetOptions::new()
            .with_range(range_end(prefix))
            .with_count_only();
        if let Some(revision) = revision {
            options = options.with_revision(revision);
        }
        let mut kv = self.client.kv_client();
        let got = self
            .runtime
            .block_on(async {
                tokio::time::timeout(self.timeout, kv.get(prefix.to_vec(), Some(options))).await
            })
            .map_err(|_| self.failed("etcd did not answer a count within etcd_timeout".into()))?
            .map_err(|e| self.failed(e.to_string()))?;
        Ok((got.count(), got.header().map_or(0, |h| h.revision())))
    }

    /// Takes one entry of a backup's trees.
    fn add(&mut self, tree: u8, key: &[u8], value: &[u8]) -> Result<(), ImportError> {
        let Some(tree) = TreeId::from_u8(tree) else {
            return Err(StoreError::corrupt("backup", format!("unknown tree {tree}")).into());
        };
        match tree {
            TreeId::Credentials => {
                let hash: [u8; 32] = key.try_into().map_err(|_| {
                    StoreError::corrupt("credentials", "a key that is not a token hash".into())
                })?;
                let (record, _) = store::decode_credential(value)?;
                let session = record.kind == StoredKind::Session;
                if session && !record.is_live(self.now) {
                    self.skipped.insert(record.id);
                    self.counts.expired_sessions += 1;
                    return Ok(());
                }
                // A session's keys end with it at its cap, as the daemon issues them.
                let lease = match record.max_expires_at.filter(|_| session) {
                    Some(until) => Some(self.lease_until(until)?),
                    None => None,
                };
                self.put_leased(
                    self.keys.credential(record.owner, record.id),
                    keys::encode_credential(&hash, &record)?,
                    lease,
                )?;
                self.counts.credentials += 1;
                if session {
                    self.counts.sessions += 1;
                }
                if let (true, Some(at)) = (session, record.expires_at) {
                    self.put_leased(
                        self.keys.expiry(record.id),
                        keys::encode_expiry(at, record.owner),
                        lease,
                    )?;
                    self.counts.expiries += 1;
                }
            }
            TreeId::Principals => {
                let record = keys::decode_principal(value)?;
                self.put(
                    self.keys.principal(record.id),
                    keys::encode_principal(&record)?,
                )?;
                self.counts.principals += 1;
                if let Some(external_id) = &record.external_id {
                    self.put(
                        self.keys.claim(record.env, external_id),
                        record.id.as_bytes().to_vec(),
                    )?;
                    self.counts.claims += 1;
                }
            }
            TreeId::Disabled => {
                let id = Uuid::from_slice(key).map_err(|_| {
                    StoreError::corrupt("disabled", "a key that is not an id".into())
                })?;
                self.disabled.push((id, keys::decode_disabled(value)));
            }
            TreeId::Audit => self.counts.audit += 1,
            TreeId::Usage => self.counts.usage += 1,
            // Derived by each host from the records, or kept by each host for itself.
            TreeId::CredentialIds | TreeId::OwnerIndex | TreeId::ExpiryIndex | TreeId::Meta => {}
        }
        Ok(())
    }

    /// The lease that ends at the minute of cap `until` ([`super::lease`]).
    fn lease_until(&mut self, until: i64) -> Result<i64, ImportError> {
        let end = super::lease::bucket_end(until);
        if let Some(&id) = self.leases.get(&end) {
            return Ok(id);
        }
        let ttl = super::lease::ttl_secs(end, self.now);
        let mut leases = self.client.lease_client();
        let granted = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, leases.grant(ttl, None)).await })
            .map_err(|_| self.failed("etcd did not grant a lease within etcd_timeout".into()))?
            .map_err(|e| self.failed(e.to_string()))?;
        self.leases.insert(end, granted.id());
        Ok(granted.id())
    }

    /// Queues a put of a key that must not exist yet; sends the batch when it is full.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), ImportError> {
        self.put_leased(key, value, None)
    }

    /// As [`Writer::put`], with `lease` attached.
    fn put_leased(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        lease: Option<i64>,
    ) -> Result<(), ImportError> {
        let batch = &mut self.batch;
        batch.bytes += 2 * key.len() + value.len();
        batch
            .compares
            .push(Compare::create_revision(key.clone(), CompareOp::Equal, 0));
        let options = lease.map(|id| etcd_client::PutOptions::new().with_lease(id));
        batch.ops.push(TxnOp::put(key, value, options));
        if batch.ops.len() >= BATCH || batch.bytes >= BATCH_BYTES {
            self.send()?;
        }
        Ok(())
    }

    /// Commits the queued puts in one transaction.
    fn send(&mut self) -> Result<(), ImportError> {
        let batch = std::mem::take(&mut self.batch);
        if batch.ops.is_empty() {
            return Ok(());
        }
        let puts = batch.ops.len() as u64;
        let txn = Txn::new().when(batch.compares).and_then(batch.ops);
        let mut kv = self.client.kv_client();
        let response = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, kv.txn(txn)).await })
            .map_err(|_| {
                self.failed(format!(
                    "etcd did not commit a transaction within etcd_timeout ({} ms)",
                    self.timeout.as_millis()
                ))
            })?
            .map_err(|e| self.failed(e.to_string()))?;
        if !response.succeeded() {
            return Err(self.failed(
                "a key it was about to write already exists: something else writes under \
                 the prefix"
                    .into(),
            ));
        }
        self.written += puts;
        Ok(())
    }

    /// Writes the disabled ids and the last batch, then counts what etcd holds.
    fn finish(mut self) -> Result<ImportReport, ImportError> {
        for (id, at) in std::mem::take(&mut self.disabled) {
            if self.skipped.contains(&id) {
                continue;
            }
            self.put(self.keys.disabled(id), keys::encode_disabled(at))?;
            self.counts.disabled += 1;
        }
        self.send()?;
        self.check()
    }

    /// Counts each section at one revision and compares with what was written.
    fn check(self) -> Result<ImportReport, ImportError> {
        let prefix = self.keys.prefix().to_owned();
        let (total, revision) = self.count(prefix.as_bytes(), None)?;
        let c = &self.counts;
        let mut wrong = Vec::new();
        for (section, what, wrote) in [
            ("p/", "principals", c.principals),
            ("x/", "external-id claims", c.claims),
            ("c/", "credentials", c.credentials),
            ("e/", "session expiries", c.expiries),
            ("d/", "disabled ids", c.disabled),
        ] {
            let (held, _) = self.count(&self.keys.section(section), Some(revision))?;
            if u64::try_from(held) != Ok(wrote) {
                wrong.push(format!(
                    "{held} {what} ({section}) where {wrote} were written"
                ));
            }
        }
        if u64::try_from(total) != Ok(c.keys()) {
            wrong.push(format!(
                "{total} keys in all where {} were written",
                c.keys()
            ));
        }
        if !wrong.is_empty() {
            return Err(ImportError::Mismatch {
                prefix,
                detail: wrong.join("; "),
            });
        }
        Ok(ImportReport {
            counts: self.counts,
            prefix,
            revision,
        })
    }
}
