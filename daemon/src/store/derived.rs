//! Indexes derived from `principals` (`api_tokens`, `last_used`): left out of backups, and
//! built once per data dir, so that a data dir from before an index existed gets it at open.

use super::engine::Engine;
use super::records::{self, PrincipalRecord};
use super::{Store, StoreError};

/// The key that says a derived index holds every principal's entry; no entry's key has its
/// length.
pub(super) const BUILT: &[u8] = b"built";

impl Store {
    /// Files every principal into the index `tree` with `file`, unless `tree` already holds
    /// [`BUILT`]; then marks it built and flushes. A principal that does not decode is filed
    /// nowhere: its readers fail on their own.
    pub(super) fn build_index(
        &self,
        tree: fn(&Engine) -> &sled::Tree,
        file: impl Fn(&Engine, &PrincipalRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if tree(&*self.engine()?).contains_key(BUILT)? {
            return Ok(());
        }
        self.write_sled(|e| {
            for entry in e.principals.iter() {
                let (_, raw) = entry?;
                if let Ok(record) = records::decode_principal(&raw) {
                    file(e, &record)?;
                }
            }
            tree(e).insert(BUILT, &[])?;
            Ok(())
        })?;
        self.flush()
    }

    /// Empties the index `tree`, as a data dir from before it existed has it, and flushes.
    #[cfg(test)]
    pub(super) fn forget_index(&self, tree: fn(&Engine) -> &sled::Tree) {
        self.write_sled(|e| Ok(tree(e).clear()?)).unwrap();
        self.flush().unwrap();
    }
}
