//! Parsing recipe files in several processes.
//!
//! CPython runs one thread at a time, so parallel parsing needs processes, as in
//! BitBake. After the configuration is parsed once, the process forks one worker per
//! job; each worker claims the next unparsed file from a counter the workers share
//! (recipes differ a lot in cost: a fixed split left one worker idle for a quarter of
//! the run), parses it against the inherited configuration and streams one JSON line
//! per file back through a pipe. Forking is safe here because the
//! process is single-threaded at that point (the reader threads start after the forks)
//! and the children leave with `_exit`, running no destructors.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use crate::eval::{Dependency, Message};
use crate::session::{RecipeInfo, Reporter, Session};

/// Why a recipe file failed to parse, as its error said it (file, line and what was
/// expected): kept in the parse cache and sent from parse workers, so as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    pub message: String,
}

/// One file's outcome: its variants or the error that stopped it, the files the parse
/// depended on, and the messages it logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileResult {
    pub file: PathBuf,
    pub outcome: Result<Vec<RecipeInfo>, FileError>,
    pub deps: Vec<Dependency>,
    pub messages: Vec<Message>,
}

fn parse_one(session: &Session, file: &Path, vars: &[String], signatures: &dyn Fn(&Path) -> bool) -> FileResult {
    let (result, deps, messages) = session.parse_file_with(file, signatures(file));
    let outcome = match result {
        Ok(variants) => Ok(variants.iter().map(|v| session.info(file, v, vars)).collect()),
        Err(e) => Err(FileError { message: e.to_string() }),
    };
    FileResult { file: file.to_path_buf(), outcome, deps, messages }
}

/// How many threads besides the calling one this process has (None: only it, or the
/// count cannot be read, in which case forking is refused too).
fn other_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let threads = status
        .as_deref()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")))
        .and_then(|n| n.trim().parse::<usize>().ok());
    match threads {
        Some(1) => None,
        Some(n) => Some(n.saturating_sub(1)),
        None => Some(0),
    }
}

/// Parse `files` with `jobs` processes; results come back in the order of `files`.
/// Workers are forked only while the process is single-threaded; otherwise (or when
/// shared memory or pipes fail) everything is parsed in this process.
pub fn parse_files(
    session: &Session,
    files: &[PathBuf],
    vars: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
    signatures: &dyn Fn(&Path) -> bool,
) -> Vec<FileResult> {
    let jobs = jobs.clamp(1, files.len().max(1));
    if jobs == 1 {
        return files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                reporter.parsing(i, files.len(), f);
                parse_one(session, f, vars, signatures)
            })
            .collect();
    }
    // Forking is only sound while this process has one thread: a lock another thread
    // holds (in malloc, in a logger) would stay locked in every worker.
    if let Some(threads) = other_threads() {
        tracing::warn!("{threads} other threads are running: parsing in one process instead of forking workers");
        return parse_files(session, files, vars, 1, reporter, signatures);
    }
    let Some(next) = SharedCounter::new() else {
        tracing::warn!("shared memory failed, parsing in one process: {}", std::io::Error::last_os_error());
        return parse_files(session, files, vars, 1, reporter, signatures);
    };
    let mut readers = Vec::new();
    let mut children = Vec::new();
    for _ in 0..jobs {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            tracing::warn!("pipe failed, parsing in one process: {}", std::io::Error::last_os_error());
            return parse_files(session, files, vars, 1, reporter, signatures);
        }
        // SAFETY: the process is single-threaded here (checked above, and no reader
        // thread has started yet); the child only parses, writes to its pipe and leaves
        // with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: closing the read end this child does not use.
            unsafe { libc::close(fds[0]) };
            // SAFETY: fds[1] is the open write end of the pipe, owned by this child only.
            let mut out = std::io::BufWriter::new(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[1]) }));
            while let Some(i) = next.claim(files.len()) {
                let r = parse_one(session, &files[i], vars, signatures);
                let line = serde_json::to_string(&(i, r)).unwrap_or_default();
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            let _ = out.flush();
            // SAFETY: leaving the child without running destructors of state shared
            // with the parent.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: closing the write end in the parent; only the child writes.
        unsafe { libc::close(fds[1]) };
        if pid < 0 {
            // SAFETY: closing the read end of a pipe nobody will write to.
            unsafe { libc::close(fds[0]) };
            tracing::warn!("fork failed: {}", std::io::Error::last_os_error());
            continue;
        }
        children.push(pid);
        // SAFETY: fds[0] is the open read end, now owned by the parent only.
        readers.push(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) }));
    }
    let (tx, rx) = mpsc::channel::<(usize, FileResult)>();
    let mut threads = Vec::new();
    for file in readers {
        let tx = tx.clone();
        threads.push(std::thread::spawn(move || {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<(usize, FileResult)>(&line) {
                    Ok(item) => {
                        if tx.send(item).is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!("a parse worker sent an unreadable result: {e}"),
                }
            }
        }));
    }
    drop(tx);
    let mut results: Vec<Option<FileResult>> = vec![None; files.len()];
    for (done, (i, r)) in rx.into_iter().enumerate() {
        reporter.parsing(done, files.len(), &r.file);
        if i < results.len() {
            results[i] = Some(r);
        }
    }
    for t in threads {
        let _ = t.join();
    }
    for pid in children {
        let mut status = 0;
        // SAFETY: waiting for a child this function forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    // Files a crashed worker never reported are parsed here.
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| parse_one(session, &files[i], vars, signatures)))
        .collect()
}

/// A counter in memory shared by this process and the children it forks afterwards:
/// the workers claim files from it.
struct SharedCounter {
    value: *mut AtomicUsize,
}

impl SharedCounter {
    fn new() -> Option<SharedCounter> {
        // SAFETY: a new anonymous shared mapping, not aliasing anything; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<AtomicUsize>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        // A new mapping is zero-filled and page-aligned: a valid AtomicUsize holding 0.
        (p != libc::MAP_FAILED).then_some(SharedCounter { value: p.cast() })
    }

    /// The next index below `len` that no process has claimed yet.
    fn claim(&self, len: usize) -> Option<usize> {
        // SAFETY: `value` points into the mapping, which lives as long as `self`.
        let i = unsafe { &*self.value }.fetch_add(1, Ordering::Relaxed);
        (i < len).then_some(i)
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `new` made; nothing uses it after this.
        unsafe { libc::munmap(self.value.cast(), std::mem::size_of::<AtomicUsize>()) };
    }
}
