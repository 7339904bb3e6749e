//! What happened to a command that ran: a value, whether it succeeded or not.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::Enforcement;

/// The result of running one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// How the command ended.
    pub termination: Termination,
    /// A limit the task ran into, when the sandbox can tell.
    pub limit_hit: Option<LimitHit>,
    /// Wall time from the start of setup until every process of the task was gone
    /// (seconds, in JSON).
    #[serde(with = "seconds")]
    pub duration: Duration,
    /// CPU time and peak memory of the task's processes.
    pub usage: Usage,
    /// The host files holding the command's stdout and stderr (deduplicated), if any.
    pub logs: Vec<PathBuf>,
    /// How isolation and limits were enforced on this host.
    pub enforcement: Enforcement,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Termination {
    /// It exited with this status.
    Exited { code: i32 },
    /// A signal killed it.
    Signaled { signal: i32 },
    /// The time limit passed; every process of the task was killed.
    TimedOut {
        /// The limit (seconds, in JSON).
        #[serde(with = "seconds")]
        after: Duration,
    },
    /// The caller cancelled it; every process of the task was killed.
    Cancelled,
}

/// A limit a task ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitHit {
    /// Time limit.
    Time,
    /// The cgroup killed a process for exceeding the memory limit.
    Memory,
    /// A fork failed at the cgroup's process limit.
    Processes,
    /// The task wrote more to a log than the log limit; it was killed.
    Log,
}

/// Resource usage of the whole task (all processes that were waited for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// User CPU time (seconds, in JSON).
    #[serde(with = "seconds")]
    pub user: Duration,
    /// System CPU time (seconds, in JSON).
    #[serde(with = "seconds")]
    pub system: Duration,
    /// Largest resident set of any one process, in bytes.
    pub max_rss_bytes: u64,
}

impl Outcome {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited { code: 0 }
    }

    /// A shell-style exit code: the status, 128 + signal, 124 on timeout, 130 on cancel.
    pub fn exit_code(&self) -> i32 {
        match self.termination {
            Termination::Exited { code } => code,
            Termination::Signaled { signal } => 128 + signal,
            Termination::TimedOut { .. } => 124,
            Termination::Cancelled => 130,
        }
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Termination::Exited { code } => write!(f, "exited with status {code}"),
            Termination::Signaled { signal } => {
                write!(f, "killed by signal {signal} ({})", signal_name(*signal))
            }
            Termination::TimedOut { after } => {
                write!(f, "timed out after {:.1}s; every process of the task was killed", after.as_secs_f64())
            }
            Termination::Cancelled => write!(f, "cancelled; every process of the task was killed"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.termination)?;
        match self.limit_hit {
            Some(LimitHit::Memory) => write!(f, " (memory limit exceeded)")?,
            Some(LimitHit::Processes) => write!(f, " (process limit reached)")?,
            Some(LimitHit::Log) => write!(f, " (log limit exceeded)")?,
            Some(LimitHit::Time) | None => {}
        }
        Ok(())
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "signal",
    }
}

/// `Duration` as fractional seconds in serialised outcomes.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}
