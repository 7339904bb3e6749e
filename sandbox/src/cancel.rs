//! Cancelling a running sandbox from another thread (Ctrl-C, a failed sibling build).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::error::Error;

/// A handle that stops a [`crate::run`] in progress: every process of the task is killed
/// and the run returns [`crate::Termination::Cancelled`]. Cheap to clone and `Send + Sync`;
/// once cancelled it stays cancelled (use one per task, or one per build to stop them all).
///
/// From async code, run the sandbox on a blocking thread and keep a clone of the handle:
///
/// ```no_run
/// # fn demo(request: rstore_sandbox::Request) -> Result<(), rstore_sandbox::Error> {
/// let cancel = rstore_sandbox::CancelHandle::new()?;
/// let for_task = cancel.clone();
/// let task = std::thread::spawn(move || rstore_sandbox::run(&request, &for_task));
/// cancel.cancel(); // e.g. from a Ctrl-C handler
/// let outcome = task.join().expect("sandbox thread")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CancelHandle {
    event: Arc<OwnedFd>,
}

impl CancelHandle {
    /// A new, not yet cancelled handle.
    pub fn new() -> Result<CancelHandle, Error> {
        let event =
            rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK)
                .map_err(|err| Error::Resource { what: "a cancel event", source: err.into() })?;
        Ok(CancelHandle { event: Arc::new(event) })
    }

    /// Cancels every run using this handle (now or later).
    pub fn cancel(&self) {
        // An eventfd write only fails when the counter would overflow, i.e. when it is
        // already signalled.
        let _ = rustix::io::write(&*self.event, &1u64.to_ne_bytes());
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(&*self.event, rustix::event::PollFlags::IN)];
        matches!(rustix::event::poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}
