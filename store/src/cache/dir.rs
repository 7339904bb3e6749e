//! A cache in a directory (`file:///srv/cache`, or a plain path): the layout of
//! [`super`] as files. Values are written to a temporary file beside their place and
//! renamed, so a reader never sees part of one.

use std::io::Write;
use std::path::PathBuf;

use super::{CACHE_INFO, CACHE_INFO_TEXT, Cache, CacheError, Key, MAX_VALUE_BYTES};

/// A directory cache.
#[derive(Debug)]
pub struct DirCache {
    root: PathBuf,
    url: String,
}

impl DirCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let url = format!("file://{}", root.display());
        Self { root, url }
    }

    fn io(&self, action: &'static str, key: &Key, source: std::io::Error) -> CacheError {
        CacheError::Io { cache: self.url.clone(), action, key: key.to_string(), source }
    }
}

impl Cache for DirCache {
    fn url(&self) -> &str {
        &self.url
    }

    fn contains(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError> {
        Ok(keys.iter().map(|k| self.root.join(k.path()).is_file()).collect())
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.root.join(key.path());
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("reading", key, e)),
        };
        if !meta.is_file() {
            return Err(CacheError::Transport {
                cache: self.url.clone(),
                key: key.to_string(),
                reason: "not a regular file".into(),
            });
        }
        if meta.len() > MAX_VALUE_BYTES {
            return Err(CacheError::TooLarge {
                cache: self.url.clone(),
                key: key.to_string(),
                size: meta.len(),
                limit: MAX_VALUE_BYTES,
            });
        }
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", key, e)),
        }
    }

    fn put(&self, key: &Key, value: &[u8]) -> Result<(), CacheError> {
        let path = self.root.join(key.path());
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| self.io("creating the directory of", key, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| self.io("writing", key, e))?;
        tmp.write_all(value).and_then(|_| tmp.as_file().sync_all()).map_err(|e| self.io("writing", key, e))?;
        let file = tmp.persist(&path).map_err(|e| self.io("writing", key, e.error))?;
        let mut perms = file.metadata().map_err(|e| self.io("writing", key, e))?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
        std::fs::set_permissions(&path, perms).map_err(|e| self.io("writing", key, e))?;
        Ok(())
    }

    fn list_records(&self) -> Result<Option<Vec<Key>>, CacheError> {
        let mut keys = Vec::new();
        for top in ["entries", "equivalences"] {
            let dir = self.root.join(top);
            let fans = match std::fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(CacheError::Io { cache: self.url.clone(), action: "listing", key: top.into(), source });
                }
            };
            for fan in fans.flatten() {
                let Ok(files) = std::fs::read_dir(fan.path()) else { continue };
                for file in files.flatten() {
                    let path =
                        format!("{top}/{}/{}", fan.file_name().to_string_lossy(), file.file_name().to_string_lossy());
                    // Stray files (a push's temporary files) are not records.
                    keys.extend(Key::from_path(&path));
                }
            }
        }
        keys.sort();
        Ok(Some(keys))
    }

    fn initialise(&self) -> Result<(), CacheError> {
        let info = self.root.join(CACHE_INFO);
        if info.is_file() {
            return Ok(());
        }
        let io =
            |source| CacheError::Io { cache: self.url.clone(), action: "creating", key: CACHE_INFO.into(), source };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        std::fs::write(&info, CACHE_INFO_TEXT).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DirCache::new(tmp.path().join("cache"));
        super::super::conformance::run_all(&cache);
    }
}
