//! The parse cache: what parsing every recipe produced, keyed by the content of every
//! file the parse read or looked for.
//!
//! Layout: `<build dir>/cache/rstore/parse-v1.json.zst`, one zstd-compressed JSON
//! document holding
//! * the configuration key: rstore's own build (its embedded Python included), the
//!   approved environment, and a blake3 hash of every file the configuration read
//!   (with the files it looked for and did not find);
//! * what the layers expand to (BBFILES, BBMASK, collections), to list recipe files again
//!   without parsing the configuration, and the configuration's provider settings
//!   (`PREFERRED_*`, `ASSUME_PROVIDED`, …) for the task graph;
//! * per recipe file: the configuration key it was parsed under, the hash of each file
//!   it depended on, and the records (or the error) it produced.
//!
//! Files are compared by content, never by time stamp, so an edited file is always
//! picked up. The cache is written to a temporary file and renamed into place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::eval::Dependency;
use crate::parallel::FileResult;

/// 4: the provider configuration keeps RSTORE_SUBSTITUTERS and RSTORE_TRUSTED_KEYS.
const FORMAT: u32 = 5;

/// Hashes file contents, each file once per run.
#[derive(Default)]
pub struct FileHasher {
    seen: HashMap<PathBuf, Option<String>>,
}

impl FileHasher {
    /// The blake3 of a file's content (of every `.py` below it, for a directory), or
    /// `None` when it does not exist.
    pub fn hash(&mut self, path: &Path) -> Option<String> {
        if let Some(h) = self.seen.get(path) {
            return h.clone();
        }
        let h = if path.is_dir() {
            let mut hasher = blake3::Hasher::new();
            let mut files = Vec::new();
            collect_py(path, &mut files);
            files.sort();
            for f in files {
                hasher.update(f.display().to_string().as_bytes());
                hasher.update(&[0]);
                if let Ok(bytes) = std::fs::read(&f) {
                    hasher.update(&bytes);
                }
                hasher.update(&[0]);
            }
            Some(hasher.finalize().to_hex().to_string())
        } else {
            std::fs::read(path).ok().map(|b| blake3::hash(&b).to_hex().to_string())
        };
        self.seen.insert(path.to_path_buf(), h.clone());
        h
    }

    /// Hash a list of dependencies.
    pub fn hash_all(&mut self, deps: &[Dependency]) -> Vec<(PathBuf, Option<String>)> {
        deps.iter().map(|d| (d.path.clone(), if d.exists { self.hash(&d.path) } else { None })).collect()
    }

    /// Whether every recorded file still has the recorded content (or is still absent).
    pub fn unchanged(&mut self, recorded: &[(PathBuf, Option<String>)]) -> bool {
        recorded.iter().all(|(p, h)| &self.hash(p) == h)
    }
}

fn collect_py(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "__pycache__") {
                collect_py(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "py") {
            out.push(p);
        }
    }
}

/// One cached recipe file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub config_key: String,
    pub deps: Vec<(PathBuf, Option<String>)>,
    pub result: FileResult,
}

/// The whole cache document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheData {
    pub format: u32,
    /// Everything that decides the configuration except its files.
    pub identity: String,
    /// Approved environment variables the configuration's `BB_HASHCONFIG_IGNORE_VARS`
    /// leaves out of `identity` (as BitBake leaves them out of its cache's key).
    #[serde(default)]
    pub identity_ignores: Vec<String>,
    pub config_deps: Vec<(PathBuf, Option<String>)>,
    pub config_key: String,
    pub bbfiles: String,
    pub bbmask: String,
    pub collections: Vec<crate::layers::CollectionSpec>,
    pub layer_dirs: Vec<PathBuf>,
    /// What the configuration says about providers (read without parsing it again).
    #[serde(default)]
    pub providers: crate::providers::ProviderConfig,
    /// The BitBake release the layers were read as.
    #[serde(default)]
    pub bitbake: Option<crate::bitbake_version::Detected>,
    pub files: BTreeMap<PathBuf, CachedFile>,
}

/// rstore's cache directory in a build directory.
const CACHE_DIR: &str = "cache/rstore";

/// The cache file of a build directory.
pub fn cache_path(build_dir: &Path) -> PathBuf {
    build_dir.join(CACHE_DIR).join("parse-v1.json.zst")
}

/// Where the bytecode of the layers' Python libraries is kept in a build directory.
pub fn pycache_dir(build_dir: &Path) -> PathBuf {
    build_dir.join(CACHE_DIR).join("pycache")
}

impl CacheData {
    /// Load the cache; a missing, unreadable or old-format cache is an empty one.
    pub fn load(build_dir: &Path) -> CacheData {
        let empty = || CacheData { format: FORMAT, ..CacheData::default() };
        let path = cache_path(build_dir);
        let Ok(bytes) = std::fs::read(&path) else { return empty() };
        let Ok(json) = zstd::decode_all(&bytes[..]) else {
            tracing::warn!("ignoring an unreadable parse cache at {}", path.display());
            return empty();
        };
        match serde_json::from_slice::<CacheData>(&json) {
            Ok(c) if c.format == FORMAT => c,
            Ok(_) => empty(),
            Err(e) => {
                tracing::warn!("ignoring an unreadable parse cache at {}: {e}", path.display());
                empty()
            }
        }
    }

    /// Write the cache atomically.
    pub fn save(&self, build_dir: &Path) -> std::io::Result<()> {
        let path = cache_path(build_dir);
        let dir = path.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let compressed = zstd::encode_all(&json[..], 3)?;
        let tmp = dir.join(format!(".parse-v1.{}.tmp", std::process::id()));
        std::fs::write(&tmp, compressed)?;
        std::fs::rename(&tmp, &path)
    }
}

/// The key of a configuration: its identity and the hashes of its files.
pub fn config_key(identity: &str, deps: &[(PathBuf, Option<String>)]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(identity.as_bytes());
    for (p, c) in deps {
        h.update(p.display().to_string().as_bytes());
        h.update(&[0]);
        h.update(c.as_deref().unwrap_or("-").as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}
