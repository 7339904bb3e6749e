//! The fetch, unpack and patch built-ins end to end: requests built by the importer from
//! the bundled busybox recipe, run as `rstore __builtin` inside the task sandbox (no
//! network: the upstream tarball comes from a downloads mirror filled by
//! `scripts/fill-downloads-mirror`), and failures reported by the binary; plus
//! `rstore fetch --import`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_importer::builtins::{BuildContext, request};
use rstore_importer::session::{Options, Session};
use rstore_importer::value::Value;
use rstore_sandbox::{CancelHandle, Mount, Network, Request, Sink};

mod common;

const BUSYBOX_SHA256: &str = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4";
const EPOCH: u64 = 1_577_836_800;

/// A downloads mirror with the bundled recipes' tarballs: the one `RSTORE_DOWNLOADS_MIRROR`
/// names (scripts/test fills it), else one filled (once per target directory) by the
/// project's script from Debian's archive.
fn real_mirror() -> PathBuf {
    if let Some(dir) = std::env::var_os("RSTORE_DOWNLOADS_MIRROR").map(PathBuf::from)
        && dir.join("busybox-1.37.0.tar.bz2").is_file()
    {
        return dir;
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fetch-tests");
    let mirror = base.join("downloads-mirror");
    if mirror.join("busybox-1.37.0.tar.bz2").is_file() {
        return mirror;
    }
    fs::create_dir_all(&base).unwrap();
    let out = Command::new(common::repo_root().join("scripts/fill-downloads-mirror"))
        .arg("--apt-state")
        .arg(base.join("apt-state"))
        .arg(&mirror)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        mirror.join("busybox-1.37.0.tar.bz2").is_file(),
        "fill-downloads-mirror did not provide busybox:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    mirror
}

/// Run a built-in request like the engine does: `rstore __builtin` in the sandbox with
/// the request's binds, the recipe's work directory bound writable.
fn run_builtin(req: &BuiltinRequest, work_host: &Path, work_inside: &Path, scratch: &Path) -> (bool, String) {
    let run_dir = scratch.join("run");
    fs::create_dir_all(&run_dir).unwrap();
    fs::write(run_dir.join("request.json"), serde_json::to_vec(req).unwrap()).unwrap();
    let log = scratch.join("log");
    let mut r = Request::new("/rstore/bin/rstore", ["__builtin", "/rstore/run/request.json"]).with_host_tools();
    r.mounts.push(Mount::ReadOnly { host: env!("CARGO_BIN_EXE_rstore").into(), inside: "/rstore/bin/rstore".into() });
    r.mounts.push(Mount::ReadOnly { host: run_dir, inside: "/rstore/run".into() });
    r.mounts.push(Mount::Writable { host: work_host.into(), inside: work_inside.into() });
    for b in req.binds() {
        r.mounts.push(if b.writable {
            Mount::Writable { host: b.host, inside: b.inside }
        } else {
            Mount::ReadOnly { host: b.host, inside: b.inside }
        });
    }
    // Even the fetch task gets no network here: the mirror and the cache must do.
    r.network = Network::Loopback;
    r.cwd = Some(work_inside.into());
    r.source_date_epoch = Some(EPOCH);
    r.stdout = Sink::File(log.clone());
    r.stderr = Sink::File(log.clone());
    let outcome = rstore_sandbox::run(&r, &CancelHandle::new().unwrap()).unwrap();
    (outcome.success(), fs::read_to_string(&log).unwrap_or_default())
}

fn newest_mtime(dir: &Path) -> i64 {
    let mut newest = fs::symlink_metadata(dir).unwrap().mtime();
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        for e in fs::read_dir(dir).unwrap() {
            newest = newest.max(newest_mtime(&e.unwrap().path()));
        }
    }
    newest
}

#[test]
fn busybox_is_fetched_unpacked_and_patched_in_the_sandbox() {
    let mirror = real_mirror();
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    let out = common::rstore().arg("init").arg(&build).arg("-q").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut conf = fs::read_to_string(build.join("conf/local.conf")).unwrap();
    conf.push_str(&format!("SOURCE_MIRROR_URL = \"file://{}\"\nBB_NO_NETWORK = \"1\"\n", mirror.display()));
    fs::write(build.join("conf/local.conf"), conf).unwrap();

    let session = Session::open(&build, &Options::default()).unwrap();
    let (file, _) = session.find_recipe("busybox").unwrap();
    let (variants, _, _) = session.parse_file(&file).unwrap();
    let d = variants.into_iter().find(|v| v.name.is_empty()).unwrap().data.create_copy();
    d.set_var("TMPDIR", Value::str("/rstore/tmp"), false, None, "set").unwrap();
    d.set_var("DL_DIR", Value::str("/rstore/downloads"), false, None, "set").unwrap();
    let workdir = PathBuf::from(d.get_str("WORKDIR").unwrap().unwrap());
    let s_rel = PathBuf::from(d.get_str("S").unwrap().unwrap()).strip_prefix(&workdir).unwrap().to_path_buf();
    let downloads = tmp.path().join("downloads");
    let ctx = BuildContext { downloads: downloads.clone(), ..BuildContext::default() };
    let requests: Vec<BuiltinRequest> =
        ["fetch", "unpack", "patch"].iter().map(|t| request(t, &d, &ctx).unwrap()).collect();
    drop(session);

    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    for (req, task) in requests.iter().zip(["fetch", "unpack", "patch"]) {
        let (ok, log) = run_builtin(req, &work, &workdir, &tmp.path().join(task));
        assert!(ok, "do_{task} failed:\n{log}");
    }
    let fetched = work.join("rstore-fetched");
    let tarball = fs::read(fetched.join("busybox-1.37.0.tar.bz2")).unwrap();
    assert_eq!(tarball, fs::read(mirror.join("busybox-1.37.0.tar.bz2")).unwrap());
    assert!(downloads.join("busybox-1.37.0.tar.bz2").is_file(), "kept in the download cache");
    assert!(downloads.join(".rstore-index/v1/sha256").join(BUSYBOX_SHA256).is_file(), "indexed by checksum");
    let layer_files = common::repo_root().join("layers/meta-core/recipes-core/busybox/busybox");
    assert_eq!(fs::read(fetched.join("local/defconfig")).unwrap(), fs::read(layer_files.join("defconfig")).unwrap());

    let s = work.join(&s_rel);
    assert!(s.join("Makefile").is_file(), "the tarball is extracted into S");
    assert!(work.join("sources/defconfig").is_file(), "local files are copied to UNPACKDIR");
    let tc = fs::read_to_string(s.join("networking/tc.c")).unwrap();
    assert!(tc.contains("# define TC_HAVE_CBQ 1"), "the recipe's patch is applied");
    for written in [&fetched, &work.join("sources")] {
        assert!(newest_mtime(written) <= EPOCH as i64, "{}: no time later than SOURCE_DATE_EPOCH", written.display());
    }

    // Fetching again with the mirror gone: the download cache satisfies it.
    fs::remove_dir_all(&fetched).unwrap();
    let mut no_mirror = requests[0].clone();
    if let BuiltinRequest::Fetch(f) = &mut no_mirror {
        f.binds.retain(|b| !b.inside.starts_with("/rstore/mirrors"));
        if let rstore_evaluator::builtin::fetch::Source::File(file) = &mut f.sources[0] {
            file.candidates.retain(|c| !c.url.starts_with("file:///rstore/mirrors"));
        }
    }
    let (ok, log) = run_builtin(&no_mirror, &work, &workdir, &tmp.path().join("refetch"));
    assert!(ok, "{log}");
    assert!(log.contains("is in the download cache"), "{log}");
}

/// Run `rstore __builtin` directly (outside a sandbox) on a request in JSON.
fn builtin_cli(json: &serde_json::Value) -> Output {
    let mut child = common::rstore()
        .arg("__builtin")
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), json).unwrap();
    let out = child.wait_with_output().unwrap();
    common::assert_no_crash(&out, "rstore __builtin");
    out
}

#[test]
fn failing_builtins_exit_1_and_say_what_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join("pkg-1.0.tar.gz"), "changed upstream").unwrap();
    let fetch = |candidates: serde_json::Value| {
        serde_json::json!({
            "builtin": "fetch",
            "recipe": "pkg",
            "downloads": tmp.path().join("dl"),
            "fetched": tmp.path().join("work/rstore-fetched"),
            "policy": {"no_network": true},
            "sources": [{
                "kind": "file",
                "url": "https://example.org/pkg-1.0.tar.gz",
                "name": "pkg-1.0.tar.gz",
                "expected": {"sha256": {"algorithm": "sha256", "hex": "a".repeat(64)}},
                "candidates": candidates,
            }],
        })
    };
    // A wrong checksum.
    let out = builtin_cli(&fetch(serde_json::json!([
        {"url": format!("file://{}/pkg-1.0.tar.gz", mirror.display()), "stage": "premirror"},
        {"url": "https://example.org/pkg-1.0.tar.gz", "stage": "upstream"},
    ])));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pkg: could not fetch pkg-1.0.tar.gz"), "{stderr}");
    assert!(stderr.contains(&format!("sha256 mismatch: expected {}", "a".repeat(64))), "{stderr}");
    assert!(stderr.contains("network access is disabled (BB_NO_NETWORK)"), "{stderr}");
    assert!(!tmp.path().join("dl/pkg-1.0.tar.gz").exists());

    // A patch that does not apply.
    let s = tmp.path().join("s");
    fs::create_dir_all(&s).unwrap();
    fs::write(s.join("a.c"), "one\n").unwrap();
    fs::write(tmp.path().join("bad.patch"), "--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-two\n+three\n").unwrap();
    let out = builtin_cli(&serde_json::json!({
        "builtin": "patch",
        "recipe": "pkg",
        "patches": [{"url": "file://bad.patch", "file": tmp.path().join("bad.patch"), "dir": s, "striplevel": 1}],
    }));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("applying bad.patch") && stderr.contains("FAILED"), "{stderr}");

    // Malformed requests are errors, not panics.
    let out = builtin_cli(&serde_json::json!({"builtin": "fetch", "recipe": 3}));
    assert_eq!(out.status.code(), Some(1));

    // A good unpack, with times clamped to SOURCE_DATE_EPOCH.
    fs::write(tmp.path().join("defconfig"), "x").unwrap();
    let out = builtin_cli(&serde_json::json!({
        "builtin": "unpack",
        "recipe": "pkg",
        "unpackdir": tmp.path().join("sources"),
        "entries": [{"url": "file://defconfig", "source": tmp.path().join("defconfig"), "action": {"action": "copy", "to": "defconfig"}}],
    }));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::metadata(tmp.path().join("sources/defconfig")).unwrap().mtime(), EPOCH as i64);
}

#[test]
fn import_adds_a_folder_to_the_download_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("tarballs");
    fs::create_dir_all(folder.join("sub")).unwrap();
    fs::write(folder.join("a-1.tar.gz"), "aaa").unwrap();
    fs::write(folder.join("b-2.tar.xz"), "bbb").unwrap();
    fs::write(folder.join("a-1.tar.gz.done"), "").unwrap();
    fs::write(folder.join("sub/ignored.tar"), "nested").unwrap();
    let dl = tmp.path().join("dl");
    let import = |args: &[&str]| {
        let out = common::rstore()
            .args(["fetch", "--import"])
            .arg(&folder)
            .arg("--downloads")
            .arg(&dl)
            .args(args)
            .output()
            .unwrap();
        common::assert_no_crash(&out, "rstore fetch --import");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let out = import(&["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["added"], 2);
    let names: Vec<&str> = report["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a-1.tar.gz", "b-2.tar.xz"]);
    assert_eq!(report["files"][0]["sha256"], "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0");
    assert_eq!(fs::read(dl.join("a-1.tar.gz")).unwrap(), b"aaa");
    assert!(
        dl.join(".rstore-index/v1/sha256/9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0").is_file()
    );
    assert!(dl.join(".rstore-index/v1/md5/47bce5c74f589f4867dbd57e9ca9f808").is_file());

    // Again: nothing new. With a different file under a taken name: indexed only.
    fs::write(folder.join("b-2.tar.xz"), "another b").unwrap();
    let out = import(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("present  9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0 a-1.tar.gz"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("indexed") && l.ends_with("b-2.tar.xz")), "{stdout}");
    assert_eq!(fs::read(dl.join("b-2.tar.xz")).unwrap(), b"bbb");

    let out = common::rstore()
        .args(["fetch", "--import"])
        .arg(tmp.path().join("nope"))
        .arg("--downloads")
        .arg(&dl)
        .output()
        .unwrap();
    common::assert_no_crash(&out, "rstore fetch --import");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
}
