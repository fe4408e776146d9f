//! [`StoreError`]: why a store operation could not be carried out.

/// A storage failure: the operation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, or its own corruption check).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A file of the store could not be read or written.
    #[error("storage error: {0}")]
    Io(std::io::Error),
    /// The data dir lost acknowledged changes or is garbled; the daemon must not serve from it.
    #[error(
        "data dir {} is damaged: {detail}. keywardd will not serve from it; restore it from a \
         backup (see README, \"Recovering a damaged data dir\")",
        dir.display()
    )]
    Damaged {
        /// The data dir.
        dir: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A write failed earlier and the store has not yet been reopened; retry shortly.
    #[error("writes are failing ({0}); keywardd retries every second and reads still work")]
    Reopening(String),
    /// The shared truth (etcd) could not be reached, or did not commit in time.
    #[error("{0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl StoreError {
    /// An equal error, for every waiter of a commit that failed.
    pub(super) fn shared(&self) -> StoreError {
        match self {
            StoreError::Sled(e) => StoreError::Sled(e.clone()),
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            StoreError::Damaged { dir, detail } => StoreError::Damaged {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            StoreError::Reopening(why) => StoreError::Reopening(why.clone()),
            StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
            StoreError::Corrupt { tree, detail } => StoreError::Corrupt {
                tree,
                detail: detail.clone(),
            },
        }
    }

    pub(crate) fn corrupt(tree: &'static str, detail: String) -> Self {
        StoreError::Corrupt { tree, detail }
    }

    /// Whether this is an I/O failure, after which sled refuses writes until reopened.
    pub(super) fn is_io(&self) -> bool {
        matches!(
            self,
            StoreError::Io(_) | StoreError::Sled(sled::Error::Io(_))
        )
    }
}
