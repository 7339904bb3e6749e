//! The local store as a [`Cache`]: what `rstore cache serve` serves, and a store a
//! push can fill. Records are made from the index on request, unsigned (a server
//! signs them with its key); records put into it are checked against its objects
//! and recorded as if built here (their signatures are not kept).

use crate::digest::{Outhash, Taskhash};
use crate::error::StoreError;
use crate::records::Equivalence;
use crate::store::Store;

use super::record::{EntryRecord, EquivalenceRecord};
use super::{Cache, CacheError, Key};

impl Store {
    /// The cache record of the entry of `unihash`, if the store has the entry and
    /// knows which task produced it.
    pub fn entry_record(&self, unihash: &crate::Unihash) -> Result<Option<EntryRecord>, StoreError> {
        let Some(entry) = self.entry(unihash)? else { return Ok(None) };
        // A unihash is the taskhash of the task that first produced its output.
        let first = Taskhash::from_digest(*unihash.digest());
        let Some(report) = self.equivalence(&first)? else { return Ok(None) };
        let entry = crate::Entry { signatures: Vec::new(), ..entry };
        Ok(Some(EntryRecord {
            identity: report.identity,
            taskhash: first,
            unihash: *unihash,
            entry,
            signatures: Vec::new(),
        }))
    }

    /// The cache record of the equivalence of `taskhash`, if the store knows it.
    pub fn equivalence_record(&self, taskhash: &Taskhash) -> Result<Option<EquivalenceRecord>, StoreError> {
        Ok(self.equivalence(taskhash)?.map(|equivalence| EquivalenceRecord { equivalence, signatures: Vec::new() }))
    }
}

fn decode_error(cache: &str, key: &Key, e: impl std::fmt::Display) -> CacheError {
    CacheError::Transport { cache: cache.to_owned(), key: key.to_string(), reason: format!("not a record: {e}") }
}

/// The local store under a URL of its own (for messages).
pub struct LocalCache<'a> {
    pub store: &'a Store,
    pub url: String,
}

impl Cache for LocalCache<'_> {
    fn url(&self) -> &str {
        &self.url
    }

    fn contains(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError> {
        keys.iter()
            .map(|k| {
                Ok(match k {
                    Key::Object(kind, d) => self.store.has_object(*kind, d),
                    Key::Entry(u) => self.store.entry_record(u)?.is_some(),
                    Key::Equivalence(t) => self.store.equivalence(t)?.is_some(),
                })
            })
            .collect()
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(match key {
            Key::Object(kind, d) => match self.store.read_raw_object(*kind, d) {
                Ok(raw) => Some(raw),
                Err(StoreError::MissingObject { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            Key::Entry(u) => self.store.entry_record(u)?.map(|r| r.encode()),
            Key::Equivalence(t) => self.store.equivalence_record(t)?.map(|r| r.encode()),
        })
    }

    fn put(&self, key: &Key, value: &[u8]) -> Result<(), CacheError> {
        match key {
            Key::Object(kind, d) => self.store.import_raw_objects(&[(*kind, *d, value)])?,
            Key::Entry(u) => {
                let record = EntryRecord::decode(value).map_err(|e| decode_error(&self.url, key, e))?;
                if record.unihash != *u {
                    return Err(decode_error(&self.url, key, "the record is another unihash's"));
                }
                self.store.commit_tree(&record.entry.root)?;
                self.store.put_entry(u, record.entry.clone())?;
                self.store.import_equivalence(&Equivalence {
                    identity: record.identity,
                    taskhash: record.taskhash,
                    unihash: record.unihash,
                    outhash: Outhash::of_tree(record.entry.root),
                })?;
            }
            Key::Equivalence(t) => {
                let record = EquivalenceRecord::decode(value).map_err(|e| decode_error(&self.url, key, e))?;
                if record.equivalence.taskhash != *t {
                    return Err(decode_error(&self.url, key, "the record is another taskhash's"));
                }
                self.store.import_equivalence(&record.equivalence)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().join("store")).unwrap();
        let cache = LocalCache { store: &store, url: "local".into() };
        super::super::conformance::run_all(&cache);
    }
}
