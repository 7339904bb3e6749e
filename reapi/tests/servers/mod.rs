//! Servers the REAPI tests start on loopback, each stopped when dropped.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rstore_reapi::{DigestFunction, ReapiCache};
use rstore_store::ObjectKind;
use rstore_store::cache::{Cache, Key, conformance};

/// The cache conformance tests against the REAPI server at `url`, which must offer
/// `function`; then a blob too large for one batch, through ByteStream both ways, and
/// a second client (another machine) seeing the same values.
pub fn conformance_with_large_blobs(url: &str, function: DigestFunction) {
    let cache = ReapiCache::connect(url).unwrap();
    assert_eq!(cache.digest_function(), function);
    conformance::run_all(&cache);

    let big: Vec<u8> = (0..5_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let (digest, raw) = conformance::raw_blob(&big);
    assert!(raw.len() > rstore_reapi::BATCH_BYTES, "the sample must not fit a batch");
    let key = Key::Object(ObjectKind::Blob, digest);
    cache.put(&key, &raw).unwrap();
    assert_eq!(cache.get(&key).unwrap().as_deref(), Some(raw.as_slice()));

    let other = ReapiCache::connect(url).unwrap();
    assert_eq!(other.contains(&[key]).unwrap(), vec![true]);
}

/// A TCP port of 127.0.0.1 that nothing listens on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process, killed when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `command`, its output going to `log`, and waits until it listens on
    /// `port` of 127.0.0.1 (a server that exits or does not listen fails the test,
    /// with its log).
    pub fn start(name: &str, command: &mut Command, port: u16, log: &Path) -> Daemon {
        let out = File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({:?}): {e}", command.get_program()));
        let mut daemon = Daemon { child };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = || std::fs::read_to_string(log).unwrap_or_default();
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("{name} exited: {status}\n{}", log());
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("{name} does not listen on port {port}\n{}", log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
