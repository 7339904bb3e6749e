//! The evaluator that is parsing right now, as seen from Python callbacks
//! (`_rstore.inherit`, `_rstore.log`, `_rstore.mark_dependency`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::datastore::{DataError, DataStore};

/// Severity of a message from metadata Python (`bb.note`, `bb.warn`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Note,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    pub fn parse(s: &str) -> LogLevel {
        match s {
            "debug" => LogLevel::Debug,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "fatal" | "critical" => LogLevel::Fatal,
            _ => LogLevel::Note,
        }
    }
}

/// What Python may ask of the evaluator.
pub trait Host {
    fn log(&self, level: LogLevel, message: &str);
    fn inherit(&self, d: &Rc<DataStore>, classes: &str, file: &str, line: u32) -> Result<(), DataError>;
    fn mark_dependency(&self, d: &Rc<DataStore>, path: &str);
}

thread_local! {
    static HOST: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
}

/// Make `host` the receiver of Python callbacks until the returned guard drops.
pub fn set_host(host: Rc<dyn Host>) -> HostGuard {
    let previous = HOST.with(|h| h.borrow_mut().replace(host));
    HostGuard { previous }
}

/// Restores the previous host when dropped.
pub struct HostGuard {
    previous: Option<Rc<dyn Host>>,
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        HOST.with(|h| *h.borrow_mut() = previous);
    }
}

/// Run `f` with the current host, if any.
pub fn with_host<R>(f: impl FnOnce(&dyn Host) -> R) -> Option<R> {
    let host = HOST.with(|h| h.borrow().clone());
    host.map(|h| f(&*h))
}
