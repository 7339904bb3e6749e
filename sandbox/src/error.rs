//! Typed errors: what was being done, and the cause.
//!
//! A command that runs and fails is not an error: it is an [`crate::Outcome`]. These are
//! the cases where the sandbox itself could not be set up.

use std::io;
use std::path::PathBuf;

/// A request that cannot become a sandbox, found before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The program is empty.
    #[error("the request names no program")]
    EmptyProgram,
    /// An argument contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    NulByte {
        /// Which argument.
        what: String,
    },
    /// An environment variable name is empty or contains `=` or NUL, or its value has NUL.
    #[error("invalid environment variable {name:?} (empty, or contains '=' or NUL)")]
    BadVariable {
        /// The name.
        name: String,
    },
    /// The request sets a variable the sandbox fixes to another value.
    #[error("environment variable {name} is fixed to {fixed:?} in the sandbox, the request sets {given:?}")]
    ReservedVariable {
        /// The name.
        name: String,
        /// The sandbox's value.
        fixed: String,
        /// The request's value.
        given: String,
    },
    /// A path inside the sandbox is relative or contains `.`/`..`.
    #[error("inside path {} must be absolute, without '.' or '..'", path.display())]
    BadInsidePath {
        /// The path.
        path: PathBuf,
    },
    /// A host path is relative (or unusable in an overlay option).
    #[error("host path {} must be absolute (and without ':' or ',' in overlay dirs)", path.display())]
    BadHostPath {
        /// The path.
        path: PathBuf,
    },
    /// A mount over something the sandbox provides itself.
    #[error("cannot mount at {}: the sandbox provides that path itself", path.display())]
    ReservedPath {
        /// The path.
        path: PathBuf,
    },
    /// Two mounts at one path.
    #[error("two mounts at {}", path.display())]
    DuplicatePath {
        /// The path.
        path: PathBuf,
    },
    /// An overlay without lower dirs.
    #[error("overlay at {} has no lower directory", path.display())]
    EmptyOverlay {
        /// The path.
        path: PathBuf,
    },
    /// A recorded mode that names no plain path of one of the overlay's lower dirs.
    #[error("overlay at {}: recorded mode for {} is not a plain path of one of its lower directories", overlay.display(), path.display())]
    BadRecordedMode {
        /// The overlay's path inside.
        overlay: PathBuf,
        /// The entry's path.
        path: PathBuf,
    },
    /// The host name cannot be set.
    #[error("invalid host name {hostname:?} (1 to 64 bytes, no '/' or NUL)")]
    BadHostname {
        /// The name.
        hostname: String,
    },
    /// The uid/gid asked for is outside what the host lets us map.
    #[error(
        "uid {uid} / gid {gid} cannot be mapped into the sandbox on this host (an unprivileged user needs newuidmap, newgidmap and /etc/subuid, /etc/subgid ranges for ids other than 0)"
    )]
    UnmappedId {
        /// Requested uid.
        uid: u32,
        /// Requested gid.
        gid: u32,
    },
    /// `parallelism` of zero.
    #[error("parallelism must be at least 1")]
    ZeroParallelism,
}

/// Why a sandbox could not run its command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was invalid.
    #[error("invalid sandbox request")]
    Plan(#[from] PlanError),
    /// A log file could not be created or written.
    #[error("cannot write log file {}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A kernel resource for the sandbox (pipe, socket, pidfd, eventfd) could not be made.
    #[error("cannot create {what} for the sandbox")]
    Resource {
        /// What it was.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The helper process could not be started.
    #[error("cannot start the sandbox's helper process")]
    Fork(#[source] io::Error),
    /// The id maps of the user namespace could not be written.
    #[error("cannot map ids into the sandbox's user namespace ({what})")]
    IdMap {
        /// What was being written or run.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A setup step inside the new namespaces failed.
    #[error("sandbox setup failed while {step}")]
    Setup {
        /// The step, in words (with the path involved).
        step: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The program could not be executed inside.
    #[error("cannot execute `{program}` inside the sandbox")]
    Exec {
        /// The program as requested.
        program: String,
        /// The cause (e.g. not found on the sandbox's `PATH`).
        #[source]
        source: io::Error,
    },
    /// The task's cgroup could not be created or configured.
    #[error("cannot set up the task's cgroup at {}", path.display())]
    Cgroup {
        /// The cgroup file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Waiting for the sandbox failed.
    #[error("lost track of the sandbox's processes")]
    Wait(#[source] io::Error),
}
