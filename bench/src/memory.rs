//! Peak memory of a whole process tree: the bench process and everything it starts,
//! daemons included.
//!
//! `getrusage` reports the largest single process, which says little about a build: a
//! BitBake build is a server that daemonises (so its client's rusage never sees it), its
//! workers and every task's processes; an rstore build is the scheduler and one sandbox
//! per running task. [`TreeSampler`] makes the bench process a child subreaper (so a
//! daemonising descendant stays in its tree) and sums the proportional set size (PSS,
//! shared pages split between the processes sharing them) of every descendant ten times
//! a second for the first ten seconds, then twice a second; the peak of those sums is
//! the figure.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the process tree is sampled: often at first (a warm parse lasts a fraction
/// of a second), then less (reading every process's `smaps_rollup` is not free, and a
/// build's sampler must not take CPU time from the build it measures).
fn interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_secs(10) { Duration::from_millis(100) } else { Duration::from_millis(500) }
}

/// Samples the summed PSS of this process's descendants until dropped or finished.
pub struct TreeSampler {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl TreeSampler {
    /// Start sampling (and make this process a subreaper, once).
    pub fn start() -> TreeSampler {
        become_subreaper();
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak_kib) = (stop.clone(), peak_kib.clone());
            std::thread::spawn(move || {
                let me = std::process::id();
                let started = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    peak_kib.fetch_max(descendants_pss_kib(me), Ordering::Relaxed);
                    std::thread::sleep(interval(started.elapsed()));
                }
            })
        };
        TreeSampler { stop, peak_kib, thread: Some(thread) }
    }

    /// Stop sampling; the peak summed PSS seen, in MiB.
    pub fn finish(mut self) -> f64 {
        self.halt();
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TreeSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Make orphaned descendants (a daemon's double fork) children of this process instead
/// of init's, so they stay in the sampled tree.
fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag and no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Reap descendants that were re-parented to this process and have exited (daemons of
/// an earlier measurement). Call only when no child started with `Command` is running,
/// or its status would be taken.
pub fn reap_orphans() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// The sum of the PSS of every descendant of `root`, in KiB (0 for processes that
/// exit while being read).
fn descendants_pss_kib(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parent_of) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut total = 0;
    let mut pending = children.get(&root).cloned().unwrap_or_default();
    while let Some(pid) = pending.pop() {
        total += std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok().as_deref().map_or(0, pss_kib);
        if let Some(more) = children.get(&pid) {
            pending.extend(more);
        }
    }
    total
}

/// The parent pid from a `/proc/PID/stat` line (`pid (comm) state ppid …`; the command
/// name may hold spaces and parentheses, so the fields are read after the last `)`).
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The `Pss:` figure of a `/proc/PID/smaps_rollup`, in KiB.
fn pss_kib(rollup: &str) -> u64 {
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_after_the_command_name() {
        assert_eq!(parent_of("42 (a) b) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_of("42 (sh) S 1 42"), Some(1));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn pss_is_read_from_the_rollup() {
        let rollup = "55d0-7ffe ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1536 kB\nPss_Anon: 3 kB\n";
        assert_eq!(pss_kib(rollup), 1536);
        assert_eq!(pss_kib("Rss: 1 kB\n"), 0);
    }

    #[test]
    fn a_child_that_holds_memory_is_seen() {
        let sampler = TreeSampler::start();
        // A child holding 64 MiB of touched memory for a second.
        let status = std::process::Command::new("python3")
            .args(["-c", "import time; b = b\"x\" * (64 << 20); time.sleep(1)"])
            .status()
            .unwrap();
        assert!(status.success());
        let peak = sampler.finish();
        assert!(peak >= 60.0, "peak {peak} MiB");
    }
}
