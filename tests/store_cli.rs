//! End-to-end tests of `rstore store …`: every subcommand, text and --json output,
//! and where the store is found.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RSTORE_STORE").env_remove("RUST_LOG");
    cmd
}

fn run(store: &Path, args: &[&str]) -> Output {
    rstore().arg("--store").arg(store).arg("store").args(args).output().unwrap()
}

fn ok(store: &Path, args: &[&str]) -> String {
    let out = run(store, args);
    assert!(out.status.success(), "rstore store {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(store: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(store, args)).unwrap()
}

fn make_src(dir: &Path) {
    fs::create_dir_all(dir.join("usr/bin")).unwrap();
    fs::create_dir_all(dir.join("var/empty")).unwrap();
    fs::write(dir.join("usr/bin/hello"), b"#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(dir.join("usr/bin/hello"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("usr/README"), b"read me\n").unwrap();
    std::os::unix::fs::symlink("bin/hello", dir.join("usr/hi")).unwrap();
}

#[test]
fn add_ls_cat_export_materialise() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let src = t.path().join("src");
    make_src(&src);
    let root = ok(&store, &["add", src.to_str().unwrap()]).trim().to_owned();
    // Printed with its algorithm; accepted with or without it.
    let hex = root.strip_prefix("b3:").expect("digests are printed as b3:HEX");
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(ok(&store, &["cat", hex, "usr/bin/hello"]), ok(&store, &["cat", &root, "usr/bin/hello"]));
    let again = json(&store, &["add", src.to_str().unwrap(), "--json"]);
    assert_eq!(again["root"], root.as_str());
    assert_eq!(again["files"], 2);
    assert_eq!(again["new_blobs"], 0, "everything is already stored");

    let ls = ok(&store, &["ls", &root, "usr"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 3, "{ls}");
    assert!(lines[0].starts_with("-0644") && lines[0].ends_with(" README"), "{ls}");
    assert!(lines[2].ends_with(" hi -> bin/hello"), "{ls}");
    let listing = json(&store, &["ls", &root, "usr/bin", "--json"]);
    assert_eq!(listing["entries"][0]["name"], "hello");
    assert_eq!(listing["entries"][0]["mode"], "0755");
    assert_eq!(listing["entries"][0]["size"], 21);

    assert_eq!(ok(&store, &["cat", &root, "usr/bin/hello"]), "#!/bin/sh\necho hello\n");
    let missing = run(&store, &["cat", &root, "usr/nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"), "{missing:?}");
    let bad = run(&store, &["ls", "xyz"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("64 hex digits"));

    let tar1 = t.path().join("a.tar");
    ok(&store, &["export", &root, "--format", "tar", "-o", tar1.to_str().unwrap()]);
    let stdout_tar = run(&store, &["export", &root]).stdout;
    assert_eq!(fs::read(&tar1).unwrap(), stdout_tar, "same bytes every time");
    let listing = Command::new("tar").arg("tvf").arg(&tar1).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("-rwxr-xr-x 0/0              21 1970-01-01 00:00 usr/bin/hello"), "{listing}");
    assert!(listing.contains("var/empty/"), "{listing}");

    let dest = t.path().join("out");
    let m = json(&store, &["materialise", &root, dest.to_str().unwrap(), "--json"]);
    assert_eq!(m["files"], 2);
    assert_eq!(fs::read_link(dest.join("usr/hi")).unwrap(), PathBuf::from("bin/hello"));
    let again = ok(&store, &["add", dest.to_str().unwrap()]);
    assert_eq!(again.trim(), root);
    rstore_store::remove_tree_forcibly(&dest).unwrap();
}

#[test]
fn stats_verify_gc_pin_roots() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let src = t.path().join("src");
    make_src(&src);
    let kept = ok(&store, &["add", src.to_str().unwrap(), "--pin", "keep"]).trim().to_owned();
    let other = t.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("big"), vec![7u8; 200_000]).unwrap();
    let dropped = ok(&store, &["add", other.to_str().unwrap()]).trim().to_owned();

    let stats = json(&store, &["stats", "--json"]);
    assert_eq!(stats["complete_trees"], 2);
    assert_eq!(stats["blobs"], 3);
    assert_eq!(stats["logical_bytes"], 21 + 8 + 200_000);
    assert!(stats["stored_bytes"].as_u64().unwrap() < 10_000, "zeros compress: {stats}");
    assert!(ok(&store, &["stats"]).contains("dedup ratio"));

    let roots = json(&store, &["roots", "--json"]);
    assert_eq!(roots[0]["name"]["pin"], "keep");
    assert_eq!(roots[0]["target"]["tree"], kept.as_str());
    let verify = json(&store, &["verify", "--json"]);
    assert_eq!(verify["problems"].as_array().unwrap().len(), 0);
    assert!(ok(&store, &["verify"]).contains(": clean"));

    let dry = json(&store, &["gc", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed_blobs"], 1);
    let text = ok(&store, &["gc"]);
    assert!(text.contains("freed "), "{text}");
    assert!(!run(&store, &["ls", &dropped]).status.success(), "collected");
    assert!(run(&store, &["ls", &kept]).status.success(), "pinned");

    ok(&store, &["unpin", "keep"]);
    assert!(!run(&store, &["unpin", "keep"]).status.success());
    let gc = json(&store, &["gc", "--json"]);
    assert_eq!(gc["removed_trees"], 5, "root, usr, usr/bin, var, var/empty");
    assert!(gc["bytes_freed"].as_u64().unwrap() > 0);

    // A damaged object: verify fails, --repair fixes, verify is clean again.
    let again = ok(&store, &["add", src.to_str().unwrap()]).trim().to_owned();
    let hello = json(&store, &["ls", &again, "usr/bin", "--json"])["entries"][0]["digest"].as_str().unwrap().to_owned();
    let hex = hello.strip_prefix("b3:").expect("digests are printed as b3:HEX");
    let blob = store.join("objects-v1/blobs").join(&hex[..2]).join(hex);
    let mut bytes = fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let failed = run(&store, &["verify"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stdout).contains(&format!("corrupt blob {hello}")));
    let repaired = json(&store, &["verify", "--repair", "--json"]);
    assert_eq!(repaired["repaired"], true);
    assert_eq!(repaired["dangling"].as_array().unwrap().len(), 1);
    assert!(run(&store, &["verify"]).status.success());
}

fn init_build_dir(dir: &Path) {
    let out = rstore().arg("init").arg(dir).output().unwrap();
    assert!(out.status.success(), "rstore init: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn store_location_option_env_configuration_and_default() {
    let t = tempfile::tempdir().unwrap();
    let path_of = |cmd: &mut Command| {
        let out = cmd.args(["store", "path", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (PathBuf::from(v["path"].as_str().unwrap()), v["source"].as_str().unwrap().to_owned())
    };
    let home = t.path().join("home");

    // Outside a build directory: $XDG_CACHE_HOME, then $HOME/.cache.
    let elsewhere = t.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let (p, s) = path_of(rstore().current_dir(&elsewhere).env("HOME", &home).env_remove("XDG_CACHE_HOME"));
    assert_eq!((p, s.as_str()), (home.join(".cache/rstore/store"), "default"));
    let (p, _) =
        path_of(rstore().current_dir(&elsewhere).env("HOME", &home).env("XDG_CACHE_HOME", t.path().join("xdg")));
    assert_eq!(p, t.path().join("xdg/rstore/store"));

    // In a build directory: RSTORE_STORE_DIR as the configuration sets it, by default
    // ${TOPDIR}/store (bitbake.conf), found through -C or the current directory.
    let build = t.path().join("build");
    init_build_dir(&build);
    let (p, s) = path_of(rstore().arg("-C").arg(&build).env("HOME", &home));
    assert_eq!((p, s.as_str()), (build.join("store"), "configuration"));
    let local_conf = build.join("conf/local.conf");
    let mut conf = fs::read_to_string(&local_conf).unwrap();
    conf.push_str("SHARED = \"${TOPDIR}/../shared-store\"\nRSTORE_STORE_DIR = \"${SHARED}\"\n");
    fs::write(&local_conf, conf).unwrap();
    let (p, _) = path_of(rstore().current_dir(&build).env("HOME", &home));
    assert_eq!(p, build.join("../shared-store"));

    // --store and RSTORE_STORE win.
    let (p, s) = path_of(rstore().current_dir(&build).arg("--store").arg(t.path().join("opt")));
    assert_eq!((p, s.as_str()), (t.path().join("opt"), "option"));
    let (p, _) = path_of(rstore().current_dir(&build).env("RSTORE_STORE", t.path().join("env")));
    assert_eq!(p, t.path().join("env"));

    // Two build directories sharing one store see each other's content.
    let src = t.path().join("src");
    make_src(&src);
    let other_build = t.path().join("build2");
    init_build_dir(&other_build);
    let mut conf = fs::read_to_string(other_build.join("conf/local.conf")).unwrap();
    conf.push_str(&format!("RSTORE_STORE_DIR = \"{}\"\n", t.path().join("shared-store").display()));
    fs::write(other_build.join("conf/local.conf"), conf).unwrap();
    let added = rstore().arg("-C").arg(&build).args(["store", "add"]).arg(&src).output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let root = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    let cat = rstore().arg("-C").arg(&other_build).args(["store", "cat", &root, "usr/README"]).output().unwrap();
    assert_eq!(String::from_utf8(cat.stdout).unwrap(), "read me\n");

    // A configuration that does not parse is an error naming the file and line.
    let mut conf = fs::read_to_string(&local_conf).unwrap();
    conf.push_str("RSTORE_STORE_DIR = \"unterminated\n");
    fs::write(&local_conf, conf).unwrap();
    let bad = rstore().arg("-C").arg(&build).args(["store", "path"]).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("local.conf:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn special_files_are_refused_with_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    assert!(Command::new("mkfifo").arg(src.join("fifo")).status().unwrap().success());
    let out = run(&t.path().join("store"), &["add", src.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fifo: it is a FIFO; only regular files, directories and symlinks can be stored"), "{err}");
    assert!(!err.contains("panicked"));
}
