//! `kill -9` of `rstore store add` at random moments: afterwards `verify` is clean,
//! no scratch files are left behind, and the same ingest succeeds.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: u32 = 100;

/// A deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn rstore(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RSTORE_STORE").arg("--store").arg(store).arg("-q").arg("store");
    cmd
}

/// Writes the tree for one trial: 160 files, half of them fixed and half with
/// contents that differ per trial, so every trial has new blobs to compress, write,
/// sync and commit. Files are rewritten in place.
fn write_tree(dir: &Path, trial: u32) {
    for d in 0..8 {
        fs::create_dir_all(dir.join(format!("d{d}/sub"))).unwrap();
    }
    for i in 0..160u32 {
        let fixed = i % 2 == 0;
        if fixed && trial > 0 {
            continue;
        }
        let seed = if fixed { i } else { i + 1000 * trial };
        let len = 2000 + (seed as usize * 7919) % 30000;
        let body: Vec<u8> = (0..len).map(|k| ((k as u32).wrapping_mul(seed | 1) >> 3) as u8).collect();
        let sub = if i % 3 == 0 { "sub/" } else { "" };
        fs::write(dir.join(format!("d{}/{sub}f{i}", i % 8)), body).unwrap();
    }
    let link = dir.join("link");
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("d0/f0", link).unwrap();
    }
}

fn add(store: &Path, src: &Path) -> String {
    let out = rstore(store).arg("add").arg(src).output().unwrap();
    assert!(out.status.success(), "add failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn verify_clean(store: &Path, trial: u32, delay: Duration) {
    let out = rstore(store).args(["verify", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "trial {trial} (killed after {delay:?}): verify printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success()
            && report["problems"].as_array().unwrap().is_empty()
            && report["dangling"].as_array().unwrap().is_empty(),
        "trial {trial} (killed after {delay:?}): store not clean: {report:#}"
    );
}

#[test]
fn kill_9_during_ingest_leaves_a_clean_store() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let src = t.path().join("src");
    let started = Instant::now();

    // Calibrate: how long does an ingest with new content take here? The window
    // adapts as the trials run (the machine's speed varies), so that most kills land
    // while the child is still working; the delays within it come from a fixed seed.
    write_tree(&src, 0);
    let t0 = Instant::now();
    add(&store, &src);
    let mut window = t0.elapsed().as_micros().max(20_000) as f64;

    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut killed = 0;
    for trial in 1..=TRIALS {
        write_tree(&src, trial);
        let delay = Duration::from_micros(rng.next() % (window as u64 + 1));
        let mut child =
            rstore(&store).arg("add").arg(&src).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        // SIGKILL (std's kill sends SIGKILL on Unix); the child may already be done.
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
            window *= 1.02;
        } else {
            window *= 0.85;
        }
        child.wait().unwrap();

        verify_clean(&store, trial, delay);
        // The verify process removed what the killed one left in tmp/.
        let leftovers: Vec<_> = fs::read_dir(store.join("tmp")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(leftovers.is_empty(), "trial {trial}: scratch files left: {leftovers:?}");
        // The same ingest succeeds, and gives the same root as an uninterrupted one.
        let root = add(&store, &src);
        if trial % 25 == 0 {
            let fresh = t.path().join(format!("fresh{trial}"));
            assert_eq!(add(&fresh, &src), root, "trial {trial}: interrupted store gives another root");
            verify_clean(&store, trial, delay);
        }
    }
    assert!(killed >= TRIALS / 2, "only {killed} of {TRIALS} runs were killed before finishing");
    eprintln!("{TRIALS} trials, {killed} killed mid-ingest, {:?} in total", started.elapsed());
}
