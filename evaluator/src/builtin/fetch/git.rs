//! Git sources: a bare clone per repository in `DL_DIR/git2/`, updated only when it
//! lacks the wanted revision, and that revision's files checked out (without `.git`)
//! into the task's work directory.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::downloads::{DownloadCache, lock_file};
use super::files::{FsError, remove_any};
use super::{Attempt, AttemptFailure, Candidate, CandidateKind, FetchError, Fetcher, git_checkout_dir};
use crate::builtin::unpack::archive;

/// A git repository at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSource {
    /// The SRC_URI entry, for messages.
    pub url: String,
    /// The full commit hash to check out.
    pub revision: String,
    /// Name of the bare clone under `DL_DIR/git2/` (BitBake's, so both share clones).
    pub clone_name: String,
    /// Where to get the repository from, in order: repositories to clone or fetch, or
    /// tarballs of a bare clone (`git2_<clone_name>.tar.gz` on mirrors).
    pub candidates: Vec<Candidate>,
    /// Only this directory of the repository (`subpath=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Make `source.revision` available in the clone cache and check it out under `fetched`.
pub(crate) fn fetch(f: &mut Fetcher<'_>, source: &GitSource) -> Result<PathBuf, FetchError> {
    let revision = source.revision.as_str();
    if !(revision.len() == 40 || revision.len() == 64) || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::BadRevision { url: source.url.clone(), revision: revision.to_owned() });
    }
    super::downloads::check_name(&source.clone_name)?;
    let git2 = f.cache.root().join("git2");
    fs::create_dir_all(&git2).map_err(|e| FsError::new("creating directory", &git2, e))?;
    let _lock = lock_file(&git2.join(format!("{}.lock", source.clone_name)))?;
    let clone = git2.join(&source.clone_name);
    if clone.is_dir() && has_commit(&clone, revision) {
        f.reporter.message(&format!("{}: revision {revision} is in the download cache", source.url));
    } else {
        let mut attempts = Vec::new();
        for candidate in &source.candidates {
            if let Some(why) = f.policy.refuses(candidate) {
                attempts.push(Attempt { url: candidate.url.clone(), failure: why });
                continue;
            }
            f.reporter.message(&format!("{}: trying {}", source.url, candidate.url));
            let outcome = match candidate.kind {
                CandidateKind::GitRepository => update_from_repository(f.cache, &clone, &candidate.url),
                _ => update_from_tarball(f, &clone, candidate),
            };
            match outcome {
                Ok(()) if has_commit(&clone, revision) => break,
                Ok(()) => attempts.push(Attempt {
                    url: candidate.url.clone(),
                    failure: AttemptFailure::Other(format!("does not have revision {revision}")),
                }),
                Err(failure) => attempts.push(Attempt { url: candidate.url.clone(), failure }),
            }
        }
        if !(clone.is_dir() && has_commit(&clone, revision)) {
            return Err(FetchError::Unavailable {
                recipe: f.recipe.to_owned(),
                what: format!("revision {revision} of {}", source.url),
                attempts,
                hint: None,
            });
        }
    }
    let dest = git_checkout_dir(f.fetched, &source.clone_name, revision);
    checkout(&clone, revision, source.subpath.as_deref(), &dest).map_err(|e| FetchError::Git {
        url: source.url.clone(),
        action: "checking out",
        output: e.to_string(),
    })?;
    Ok(dest)
}

/// A `git` command with no configuration from the host and no prompts, blind to
/// replace refs (`refs/replace/*` would let a mirror substitute other contents for a
/// pinned revision).
fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .args(["-c", "safe.directory=*", "-c", "protocol.file.allow=always", "-c", "core.hooksPath=/dev/null"])
        .args(["-c", "gc.autoDetach=false", "-c", "init.defaultBranch=master", "-c", "advice.detachedHead=false"]);
    cmd
}

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{command} failed ({status}):\n{output}")]
    Failed { command: String, status: std::process::ExitStatus, output: String },
    #[error("{command} could not be started: {source}")]
    Start { command: String, source: std::io::Error },
    #[error("creating a temporary directory: {0}")]
    Scratch(std::io::Error),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Run a git command; its combined output goes into the error.
fn run(mut cmd: Command) -> Result<String, GitError> {
    let command = format!("{cmd:?}");
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(GitError::Failed {
            command,
            status: out.status,
            output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        }),
        Err(source) => Err(GitError::Start { command, source }),
    }
}

fn has_commit(clone: &Path, revision: &str) -> bool {
    let mut cmd = git();
    cmd.arg("--git-dir").arg(clone).args(["cat-file", "-e", &format!("{revision}^{{commit}}")]);
    cmd.stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

fn update_from_repository(cache: &DownloadCache, clone: &Path, url: &str) -> Result<(), AttemptFailure> {
    if clone.is_dir() {
        let mut cmd = git();
        cmd.arg("--git-dir").arg(clone).args(["fetch", "--force", "--quiet", url, "+refs/*:refs/*"]);
        return run(cmd).map(|_| ()).map_err(|e| AttemptFailure::Other(e.to_string()));
    }
    let tmp = cache.temp_dir().map_err(|e| AttemptFailure::Other(e.to_string()))?;
    let repo = tmp.path().join("repo");
    let mut cmd = git();
    cmd.args(["clone", "--bare", "--mirror", "--quiet", url]).arg(&repo);
    run(cmd).map_err(|e| AttemptFailure::Other(e.to_string()))?;
    fs::rename(&repo, clone).map_err(|e| AttemptFailure::Other(format!("moving the clone into place: {e}")))
}

fn update_from_tarball(f: &mut Fetcher<'_>, clone: &Path, candidate: &Candidate) -> Result<(), AttemptFailure> {
    let (temp, _) = f.get_candidate(candidate)?;
    let tmp = f.cache.temp_dir().map_err(|e| AttemptFailure::Other(e.to_string()))?;
    let repo = tmp.path().join("repo");
    fs::create_dir(&repo).map_err(|e| AttemptFailure::Other(e.to_string()))?;
    let format = archive::Format::from_name(&candidate.url).unwrap_or(archive::Format::Tar(archive::Compression::Gzip));
    archive::extract(temp.path(), format, &repo, 0).map_err(|e| AttemptFailure::Other(e.to_string()))?;
    // Never used as it is: its objects are fetched into the clone, through `index-pack`,
    // which hashes every object it receives (an object whose contents do not match its
    // name is refused), and only its branches and tags are taken.
    let target = if clone.is_dir() {
        clone.to_path_buf()
    } else {
        let fresh = tmp.path().join("clone");
        let mut init = git();
        init.args(["init", "--bare", "--quiet"]).arg(&fresh);
        run(init).map_err(|e| AttemptFailure::Other(e.to_string()))?;
        fresh
    };
    let mut cmd = git();
    cmd.arg("--git-dir").arg(&target).args([
        "-c",
        "transfer.fsckObjects=true",
        "fetch",
        "--force",
        "--quiet",
        "--no-tags",
    ]);
    cmd.arg(&repo).args(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    run(cmd).map_err(|e| AttemptFailure::Other(e.to_string()))?;
    if target != clone {
        fs::rename(&target, clone).map_err(|e| AttemptFailure::Other(format!("moving the clone into place: {e}")))?;
    }
    Ok(())
}

/// Write the files of `revision` (or of its `subpath`) into `dest`, with no `.git`.
fn checkout(clone: &Path, revision: &str, subpath: Option<&str>, dest: &Path) -> Result<(), GitError> {
    remove_any(dest)?;
    fs::create_dir_all(dest).map_err(|e| FsError::new("creating", dest, e))?;
    let scratch = tempfile::tempdir().map_err(GitError::Scratch)?;
    let index: OsString = scratch.path().join("index").into_os_string();
    let tree = match subpath {
        Some(sub) => format!("{revision}:{}", sub.trim_matches('/')),
        None => revision.to_owned(),
    };
    let mut read_tree = git();
    read_tree.env("GIT_INDEX_FILE", &index).arg("--git-dir").arg(clone).args(["read-tree", &tree]);
    run(read_tree)?;
    let mut checkout = git();
    checkout.env("GIT_INDEX_FILE", &index).arg("--git-dir").arg(clone).arg("--work-tree").arg(dest).args([
        "checkout-index",
        "--all",
        "--force",
    ]);
    run(checkout)?;
    Ok(normalise_modes(dest)?)
}

/// Files 0644 or 0755 (as git records them), directories 0755, whatever the umask.
fn normalise_modes(dir: &Path) -> Result<(), FsError> {
    for entry in fs::read_dir(dir).map_err(|e| FsError::new("listing", dir, e))? {
        let entry = entry.map_err(|e| FsError::new("listing", dir, e))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| FsError::new("reading", &path, e))?;
        let mode = if meta.is_dir() {
            normalise_modes(&path)?;
            0o755
        } else if meta.is_file() {
            if meta.permissions().mode() & 0o100 != 0 { 0o755 } else { 0o644 }
        } else {
            continue;
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| FsError::new("setting the mode of", &path, e))?;
    }
    Ok(())
}
