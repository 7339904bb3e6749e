//! The fetch built-in: every source of a recipe into the download cache and the task's
//! work directory. The only built-in with network access (a fixed-output task: what it
//! may produce is fixed by the recipe's checksums and revisions).
//!
//! What it leaves, under `${WORKDIR}/rstore-fetched/` (see [`FETCHED_DIR`]):
//!
//! ```text
//! rstore-fetched/
//! ├── <download file name>            every remote file, verified (also kept in DL_DIR)
//! ├── local/<path as in SRC_URI>      every file:// entry (directories recursively)
//! └── git/<clone name>/<revision>/    the files of every git source at its revision
//! ```
//!
//! A remote file is looked for, in order: in the download cache under its name, in the
//! cache's checksum index (any file with the right checksum, see [`downloads`]), then at
//! each candidate URL the importer listed (PREMIRRORS, the URL itself, MIRRORS). Every
//! candidate is verified against the expected checksums before it is renamed into
//! place; a wrong one is deleted and the next is tried. With the network disabled
//! (`BB_NO_NETWORK`), network candidates are skipped and only the cache and `file://`
//! mirrors can satisfy a fetch.

pub mod checksum;
pub mod downloads;
pub mod files;
pub mod git;
pub mod http;

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use self::checksum::{Checksum, Computed, Expected, copy_hashing};
use self::downloads::{CacheError, DownloadCache};
use self::files::{FsError, clamp_mtimes, copy_file_hashing, copy_tree, source_date_epoch};
pub use self::git::GitSource;
pub use self::http::{HttpFailure, HttpSettings};
use super::Bind;

/// The directory of the work directory that holds what the fetch task fetched.
pub const FETCHED_DIR: &str = "rstore-fetched";

/// Where the fetch task leaves the download named `name`.
pub fn fetched_file(fetched: &Path, name: &str) -> PathBuf {
    fetched.join(name)
}

/// Where the fetch task leaves the `file://` entry written as `path` in SRC_URI.
pub fn fetched_local(fetched: &Path, path: &str) -> PathBuf {
    fetched.join("local").join(path.trim_start_matches('/'))
}

/// Where the fetch task leaves the files of a git source.
pub fn git_checkout_dir(fetched: &Path, clone_name: &str, revision: &str) -> PathBuf {
    fetched.join("git").join(clone_name).join(revision)
}

/// Fetch the sources of one recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// The download cache (`DL_DIR`) inside the sandbox.
    pub downloads: PathBuf,
    /// `${WORKDIR}/rstore-fetched` inside the sandbox.
    pub fetched: PathBuf,
    /// The sources, in SRC_URI order.
    pub sources: Vec<Source>,
    #[serde(default)]
    pub policy: NetworkPolicy,
    #[serde(default)]
    pub http: HttpSettings,
    /// Host paths to mount: the download cache, local files, `file://` mirrors.
    #[serde(default)]
    pub binds: Vec<Bind>,
}

/// One entry of SRC_URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A `file://` entry, found through FILESPATH by the importer.
    Local(LocalSource),
    /// A remote file (http, https, or a mirror of one) with its checksums.
    File(RemoteFile),
    /// A git repository at one revision.
    Git(GitSource),
}

/// A `file://` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSource {
    /// The SRC_URI entry, for messages.
    pub url: String,
    /// The path as written in SRC_URI (it names the copy under `local/`).
    pub path: String,
    /// Where the file or directory is inside the sandbox (bound read-only).
    pub source: PathBuf,
}

/// A remote file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    /// The SRC_URI entry, for messages.
    pub url: String,
    /// The download file name (the URL's last component, or `downloadfilename=`).
    pub name: String,
    /// What the file must hash to.
    pub expected: Expected,
    /// The name of the sha256 flag in the recipe (`sha256sum`, or `<name>.sha256sum`),
    /// for the hint a checksum mismatch gives.
    #[serde(default = "default_sha256_flag")]
    pub sha256_flag: String,
    /// Where to get it from, in order.
    pub candidates: Vec<Candidate>,
}

fn default_sha256_flag() -> String {
    "sha256sum".to_owned()
}

/// A place a source may be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// `http://`, `https://` or `file://` (a path inside the sandbox) URL.
    pub url: String,
    pub stage: Stage,
    #[serde(default)]
    pub kind: CandidateKind,
}

/// Which list a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Premirror,
    Upstream,
    Mirror,
}

/// What a candidate URL gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateKind {
    /// The file itself.
    #[default]
    File,
    /// A git repository to clone or fetch from.
    GitRepository,
    /// A tarball of a bare git clone.
    GitTarball,
}

/// When the network may be used (`BB_NO_NETWORK`, `BB_FETCH_PREMIRRORONLY`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// No network at all.
    #[serde(default)]
    pub no_network: bool,
    /// Network only for PREMIRRORS.
    #[serde(default)]
    pub premirror_only: bool,
}

impl NetworkPolicy {
    /// Why `candidate` may not be tried, if it may not.
    pub fn refuses(&self, candidate: &Candidate) -> Option<AttemptFailure> {
        if local_path(&candidate.url).is_some() {
            return None;
        }
        if self.no_network {
            return Some(AttemptFailure::NetworkDisabled);
        }
        if self.premirror_only && candidate.stage != Stage::Premirror {
            return Some(AttemptFailure::PremirrorOnly);
        }
        None
    }
}

/// The path of a `file://` URL (no parameters), or `None` for other URLs.
pub fn local_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("file://")?;
    Some(Path::new(rest.split(';').next().unwrap_or(rest)))
}

/// Progress of a fetch: messages and download progress.
pub trait Reporter {
    /// Something worth a line in the task log.
    fn message(&mut self, text: &str);
    /// `received` bytes of `url` have arrived (of `total`, when the server said).
    fn progress(&mut self, url: &str, received: u64, total: Option<u64>);
}

/// A [`Reporter`] writing lines to a task log: progress every tenth of a download (or
/// every 64 MiB when the size is unknown).
pub struct LogReporter<'a> {
    log: &'a mut dyn Write,
    last: Option<(String, u64)>,
}

impl<'a> LogReporter<'a> {
    pub fn new(log: &'a mut dyn Write) -> LogReporter<'a> {
        LogReporter { log, last: None }
    }
}

impl Reporter for LogReporter<'_> {
    fn message(&mut self, text: &str) {
        let _ = writeln!(self.log, "{text}");
    }

    fn progress(&mut self, url: &str, received: u64, total: Option<u64>) {
        let step = match total {
            Some(t) if t > 0 => received * 10 / t,
            _ => received >> 26,
        };
        if received > 0
            && let Some((last_url, last_step)) = &self.last
            && last_url == url
            && *last_step == step
        {
            return;
        }
        self.last = Some((url.to_owned(), step));
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let _ = match total {
            Some(t) if received == 0 => writeln!(self.log, "downloading {url} ({:.1} MiB)", mib(t)),
            None if received == 0 => writeln!(self.log, "downloading {url}"),
            Some(t) => {
                writeln!(self.log, "  {:.1} of {:.1} MiB ({}%)", mib(received), mib(t), received * 100 / t.max(1))
            }
            None => writeln!(self.log, "  {:.1} MiB", mib(received)),
        };
    }
}

/// One candidate that did not give the source, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub url: String,
    pub failure: AttemptFailure,
}

/// Why a candidate did not give the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptFailure {
    #[error("network access is disabled (BB_NO_NETWORK)")]
    NetworkDisabled,
    #[error("only PREMIRRORS may use the network (BB_FETCH_PREMIRRORONLY)")]
    PremirrorOnly,
    #[error("no such file")]
    Missing,
    #[error(transparent)]
    Http(#[from] HttpFailure),
    #[error("{} mismatch: expected {}, got {}", .expected.algorithm(), .expected.hex(), .actual.hex())]
    Checksum { expected: Checksum, actual: Checksum },
    #[error("{0}")]
    Other(String),
}

/// Why the fetch task failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "{recipe}: {url} has no checksum in the recipe; add\n    SRC_URI[{flag}] = \"{}\"",
        .sha256.hex()
    )]
    NoChecksum { recipe: String, url: String, flag: String, sha256: Checksum },
    #[error("{recipe}: could not fetch {what} from any source:{}{}", list(.attempts), .hint.as_deref().unwrap_or(""))]
    Unavailable { recipe: String, what: String, attempts: Vec<Attempt>, hint: Option<String> },
    #[error("{url}: {path} was not found (file:// entries must exist when the task runs)")]
    LocalMissing { url: String, path: PathBuf },
    #[error("{url}: the revision {revision:?} is not a full commit hash")]
    BadRevision { url: String, revision: String },
    #[error("{url}: {action} failed: {output}")]
    Git { url: String, action: &'static str, output: String },
}

fn list(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return " no source was listed".to_owned();
    }
    attempts.iter().fold(String::new(), |mut s, a| {
        s.push_str(&format!("\n  {}: {}", a.url, a.failure));
        s
    })
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Premirror => "premirror",
            Stage::Upstream => "upstream",
            Stage::Mirror => "mirror",
        })
    }
}

/// Run a fetch request.
pub fn run(request: &FetchRequest, reporter: &mut dyn Reporter) -> Result<(), FetchError> {
    let cache = DownloadCache::open(&request.downloads)?;
    fs::create_dir_all(&request.fetched).map_err(|e| FsError::new("creating directory", &request.fetched, e))?;
    let mut fetcher = Fetcher {
        recipe: &request.recipe,
        cache: &cache,
        fetched: &request.fetched,
        policy: &request.policy,
        http: &request.http,
        reporter,
    };
    for source in &request.sources {
        match source {
            Source::Local(local) => fetcher.local(local)?,
            Source::File(file) => fetcher.remote_file(file)?,
            Source::Git(g) => {
                git::fetch(&mut fetcher, g)?;
            }
        }
    }
    if let Some(epoch) = source_date_epoch() {
        clamp_mtimes(&request.fetched, epoch)?;
    }
    Ok(())
}

/// What one fetch task works with.
pub(crate) struct Fetcher<'a> {
    recipe: &'a str,
    cache: &'a DownloadCache,
    fetched: &'a Path,
    policy: &'a NetworkPolicy,
    http: &'a HttpSettings,
    reporter: &'a mut dyn Reporter,
}

impl Fetcher<'_> {
    fn local(&mut self, local: &LocalSource) -> Result<(), FetchError> {
        if fs::symlink_metadata(&local.source).is_err() {
            return Err(FetchError::LocalMissing { url: local.url.clone(), path: local.source.clone() });
        }
        let dest = fetched_local(self.fetched, &local.path);
        copy_tree(&local.source, &dest)?;
        self.reporter.message(&format!("{}: copied from the layer", local.url));
        Ok(())
    }

    fn remote_file(&mut self, file: &RemoteFile) -> Result<(), FetchError> {
        downloads::check_name(&file.name)?;
        if matches!(file.name.as_str(), "local" | "git") {
            return Err(CacheError::BadName { name: file.name.clone() }.into());
        }
        let dest = fetched_file(self.fetched, &file.name);
        let mut attempts = Vec::new();
        let _lock = self.cache.lock(&file.name)?;
        if !file.expected.is_empty() {
            // The download cache, by name and then by checksum.
            let named = self.cache.path_of(&file.name)?;
            if named.is_file() {
                match self.copy_checked(&named, &dest, &file.expected)? {
                    Ok(digests) => {
                        self.cache.index_file(&named, &digests)?;
                        self.reporter.message(&format!("{}: {} is in the download cache", file.url, file.name));
                        return Ok(());
                    }
                    Err(failure) => attempts.push(Attempt { url: named.display().to_string(), failure }),
                }
            }
            for entry in self.cache.lookup(&file.expected) {
                match self.copy_checked(&entry, &dest, &file.expected)? {
                    Ok(digests) => {
                        self.cache.place(&entry, &file.name, &digests)?;
                        self.reporter.message(&format!(
                            "{}: found in the download cache by checksum ({})",
                            file.url,
                            entry.display()
                        ));
                        return Ok(());
                    }
                    Err(failure) => {
                        self.cache.forget(&entry);
                        attempts.push(Attempt { url: entry.display().to_string(), failure });
                    }
                }
            }
        }
        let mut hint = None;
        for candidate in &file.candidates {
            if let Some(why) = self.policy.refuses(candidate) {
                attempts.push(Attempt { url: candidate.url.clone(), failure: why });
                continue;
            }
            let (temp, digests) = match self.get_candidate(candidate) {
                Ok(got) => got,
                Err(failure) => {
                    attempts.push(Attempt { url: candidate.url.clone(), failure });
                    continue;
                }
            };
            if file.expected.is_empty() {
                return Err(FetchError::NoChecksum {
                    recipe: self.recipe.to_owned(),
                    url: file.url.clone(),
                    flag: file.sha256_flag.clone(),
                    sha256: digests.sha256,
                });
            }
            if let Some((expected, actual)) = file.expected.mismatch(&digests) {
                self.reporter.message(&format!(
                    "{}: {} mismatch, trying other sources",
                    candidate.url,
                    expected.algorithm()
                ));
                if candidate.stage == Stage::Upstream {
                    hint = Some(format!(
                        "\nIf the new upstream file is expected, update the recipe:\n    SRC_URI[{}] = \"{}\"",
                        file.sha256_flag,
                        digests.sha256.hex()
                    ));
                }
                attempts.push(Attempt {
                    url: candidate.url.clone(),
                    failure: AttemptFailure::Checksum { expected, actual },
                });
                continue;
            }
            let stored = self.cache.commit(temp, &file.name, &digests)?;
            copy_file_hashing(&stored, &dest, 0o644)?;
            self.reporter.message(&format!("{}: fetched from {}", file.url, candidate.url));
            return Ok(());
        }
        Err(FetchError::Unavailable {
            recipe: self.recipe.to_owned(),
            what: format!("{} ({})", file.name, file.url),
            attempts,
            hint,
        })
    }

    /// Copy a cached file to `dest` if it has the expected checksums (`Ok(Err(_))`
    /// saying why not otherwise, with `dest` left absent).
    fn copy_checked(
        &mut self,
        from: &Path,
        dest: &Path,
        expected: &Expected,
    ) -> Result<Result<Computed, AttemptFailure>, FetchError> {
        let digests = copy_file_hashing(from, dest, 0o644)?;
        match expected.mismatch(&digests) {
            None => Ok(Ok(digests)),
            Some((expected, actual)) => {
                let _ = fs::remove_file(dest);
                Ok(Err(AttemptFailure::Checksum { expected, actual }))
            }
        }
    }

    /// Get a candidate's file into a temporary file of the cache.
    pub(crate) fn get_candidate(&mut self, candidate: &Candidate) -> Result<(NamedTempFile, Computed), AttemptFailure> {
        let mut temp = self.cache.temp_file().map_err(|e| AttemptFailure::Other(e.to_string()))?;
        if let Some(path) = local_path(&candidate.url) {
            let mut src = match fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AttemptFailure::Missing),
                Err(e) => return Err(AttemptFailure::Other(format!("opening {}: {e}", path.display()))),
            };
            if src.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(AttemptFailure::Other("a directory, not a file".to_owned()));
            }
            let digests = copy_hashing(&mut src, temp.as_file_mut())
                .map_err(|e| AttemptFailure::Other(format!("copying {}: {e}", path.display())))?;
            return Ok((temp, digests));
        }
        if candidate.url.starts_with("http://") || candidate.url.starts_with("https://") {
            let digests = http::download(&candidate.url, temp.as_file_mut(), self.http, self.reporter)?;
            return Ok((temp, digests));
        }
        let scheme = candidate.url.split("://").next().unwrap_or("");
        Err(AttemptFailure::Other(format!("{scheme}:// URLs are not supported by rstore's fetcher")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(url: &str, stage: Stage) -> Candidate {
        Candidate { url: url.to_owned(), stage, kind: CandidateKind::File }
    }

    #[test]
    fn policy_allows_local_mirrors_without_network() {
        let off = NetworkPolicy { no_network: true, premirror_only: false };
        assert_eq!(off.refuses(&candidate("file:///m/a.tar", Stage::Premirror)), None);
        assert_eq!(off.refuses(&candidate("https://x/a.tar", Stage::Upstream)), Some(AttemptFailure::NetworkDisabled));
        let pre = NetworkPolicy { no_network: false, premirror_only: true };
        assert_eq!(pre.refuses(&candidate("https://m/a.tar", Stage::Premirror)), None);
        assert_eq!(pre.refuses(&candidate("https://x/a.tar", Stage::Upstream)), Some(AttemptFailure::PremirrorOnly));
    }

    #[test]
    fn request_round_trips_through_json() {
        let req = FetchRequest {
            recipe: "zlib".into(),
            downloads: "/rstore/downloads".into(),
            fetched: "/rstore/tmp/work/zlib/rstore-fetched".into(),
            sources: vec![Source::File(RemoteFile {
                url: "https://example.org/zlib-1.3.tar.gz".into(),
                name: "zlib-1.3.tar.gz".into(),
                expected: Expected {
                    sha256: Some(Checksum::parse(checksum::Algorithm::Sha256, &"a".repeat(64)).unwrap()),
                    md5: None,
                },
                sha256_flag: "sha256sum".into(),
                candidates: vec![candidate("https://example.org/zlib-1.3.tar.gz", Stage::Upstream)],
            })],
            policy: NetworkPolicy::default(),
            http: HttpSettings::default(),
            binds: vec![],
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<FetchRequest>(&json).unwrap(), req);
    }
}
