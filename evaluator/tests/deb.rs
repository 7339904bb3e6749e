//! The `package-deb` built-in writes real Debian packages: checked with the real
//! `dpkg-deb` and `dpkg`, compared with what `dpkg-deb --build` makes of the same
//! tree, and byte-for-byte reproducible.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rstore_evaluator::builtin::deb::archive::Compression;
use rstore_evaluator::builtin::deb::control::DebControl;
use rstore_evaluator::builtin::deb::{DebPackage, DebRequest};
use rstore_evaluator::builtin::{self, BuiltinError, BuiltinRequest};

const SDE: u64 = 1577836800;

fn control(name: &str, depends: &str) -> DebControl {
    DebControl {
        package: name.into(),
        version: "1.0-r0".into(),
        architecture: "amd64".into(),
        maintainer: "rstore distribution <distro@rstore.invalid>".into(),
        depends: depends.into(),
        section: "examples".into(),
        priority: "optional".into(),
        homepage: "https://example.invalid/".into(),
        source: "hello".into(),
        summary: "Hello world".into(),
        description: vec!["The example program.".into(), String::new(), "A second paragraph.".into()],
    }
}

fn package(name: &str, allow_empty: bool) -> DebPackage {
    DebPackage { file_name: format!("{name}_1.0-r0_amd64.deb"), allow_empty, control: control(name, "") }
}

fn write(path: &Path, text: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A split package tree: `hello` with a program, a link, a long path and a setuid
/// file; `hello-dev` with nothing.
fn pkgdest(root: &Path) {
    let hello = root.join("hello");
    write(&hello.join("usr/bin/hello"), b"#!/bin/sh\necho hello\n", 0o755);
    std::os::unix::fs::symlink("hello", hello.join("usr/bin/hi")).unwrap();
    let long = format!("usr/share/doc/hello/{}/README", "deep".repeat(30));
    write(&hello.join(long), b"read me\n", 0o644);
    write(&hello.join("usr/sbin/helper"), b"x", 0o4755);
    fs::create_dir_all(hello.join("var/empty")).unwrap();
    fs::create_dir_all(root.join("hello-dev/usr/include")).unwrap();
}

fn request(pkgdest: &Path, deploy: &Path, compression: Compression, packages: Vec<DebPackage>) -> BuiltinRequest {
    BuiltinRequest::PackageDeb(DebRequest {
        recipe: "hello".into(),
        pkgdest: pkgdest.to_path_buf(),
        deploy_dir: deploy.to_path_buf(),
        compression,
        source_date_epoch: SDE,
        packages,
    })
}

fn run(req: &BuiltinRequest) -> (Result<(), BuiltinError>, String) {
    let mut log = Vec::new();
    let r = builtin::run(req, &mut log);
    (r, String::from_utf8(log).unwrap())
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).env("LC_ALL", "C").output().expect("the tool runs");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn dpkg_deb_reads_the_packages() {
    let t = tempfile::tempdir().unwrap();
    let (src, deploy) = (t.path().join("split"), t.path().join("deploy/x86_64"));
    pkgdest(&src);
    let mut meta = package("hello-meta", true);
    meta.control.depends = "hello (= 1.0-r0), libc6 (>= 2.36)".into();
    let req = request(&src, &deploy, Compression::Xz, vec![package("hello", false), package("hello-dev", false), meta]);
    let (result, log) = run(&req);
    result.unwrap();
    assert!(log.contains("Not writing hello-dev: it is empty"), "{log}");

    let deb = deploy.join("hello_1.0-r0_amd64.deb");
    assert!(!deploy.join("hello-dev_1.0-r0_amd64.deb").exists(), "an empty package without ALLOW_EMPTY is left out");
    let info = tool("dpkg-deb", &["--info", s(&deb)]);
    for line in [
        " Package: hello\n",
        " Version: 1.0-r0\n",
        " Architecture: amd64\n",
        " Maintainer: rstore distribution <distro@rstore.invalid>\n",
        " Installed-Size: 4\n",
        " Section: examples\n",
        " Priority: optional\n",
        " Homepage: https://example.invalid/\n",
        " Source: hello\n",
        " Description: Hello world\n  The example program.\n  .\n  A second paragraph.\n",
    ] {
        assert!(info.contains(line), "dpkg-deb --info lacks {line:?}:\n{info}");
    }
    assert!(!info.contains("Depends"), "no empty Depends field:\n{info}");
    assert_eq!(tool("ar", &["t", s(&deb)]), "debian-binary\ncontrol.tar.xz\ndata.tar.xz\n");

    let contents = tool("dpkg-deb", &["--contents", s(&deb)]);
    let listed: Vec<(&str, &str, &str)> = contents
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0], f[1], f[5])
        })
        .collect();
    let long = format!("./usr/share/doc/hello/{}/README", "deep".repeat(30));
    let want: Vec<(&str, &str, &str)> = vec![
        ("drwxr-xr-x", "root/root", "./"),
        ("drwxr-xr-x", "root/root", "./usr/"),
        ("drwxr-xr-x", "root/root", "./usr/bin/"),
        ("-rwxr-xr-x", "root/root", "./usr/bin/hello"),
        ("drwxr-xr-x", "root/root", "./usr/sbin/"),
        ("-rwsr-xr-x", "root/root", "./usr/sbin/helper"),
        ("drwxr-xr-x", "root/root", "./usr/share/"),
        ("drwxr-xr-x", "root/root", "./usr/share/doc/"),
        ("drwxr-xr-x", "root/root", "./usr/share/doc/hello/"),
        (
            "drwxr-xr-x",
            "root/root",
            "./usr/share/doc/hello/deepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeepdeep/",
        ),
        ("-rw-r--r--", "root/root", long.as_str()),
        ("drwxr-xr-x", "root/root", "./var/"),
        ("drwxr-xr-x", "root/root", "./var/empty/"),
        ("lrwxrwxrwx", "root/root", "./usr/bin/hi"),
    ];
    assert_eq!(listed, want, "{contents}");
    assert!(contents.contains("./usr/bin/hi -> hello"), "{contents}");
    assert!(contents.lines().all(|l| l.contains("2020-01-01 00:00")), "every time is SOURCE_DATE_EPOCH:\n{contents}");

    let meta_info =
        tool("dpkg-deb", &["--field", s(&deploy.join("hello-meta_1.0-r0_amd64.deb")), "Depends", "Installed-Size"]);
    assert_eq!(meta_info, "Depends: hello (= 1.0-r0), libc6 (>= 2.36)\nInstalled-Size: 0\n");
}

#[test]
fn control_and_contents_match_dpkg_deb_build() {
    let t = tempfile::tempdir().unwrap();
    let (src, deploy) = (t.path().join("split"), t.path().join("deploy"));
    pkgdest(&src);
    let req = request(&src, &deploy, Compression::Xz, vec![package("hello", false)]);
    run(&req).0.unwrap();
    let ours = deploy.join("hello_1.0-r0_amd64.deb");

    // The same tree and control file through dpkg-deb itself.
    let build = t.path().join("dpkg-build");
    let status = Command::new("cp").args(["-a", s(&src.join("hello")), s(&build)]).status().unwrap();
    assert!(status.success());
    fs::create_dir_all(build.join("DEBIAN")).unwrap();
    let control_text = Command::new("dpkg-deb").args(["--field", s(&ours)]).output().unwrap().stdout;
    fs::write(build.join("DEBIAN/control"), &control_text).unwrap();
    let theirs = t.path().join("theirs.deb");
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build", s(&build), s(&theirs)])
        .env("SOURCE_DATE_EPOCH", SDE.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tool("dpkg-deb", &["--contents", s(&ours)]), tool("dpkg-deb", &["--contents", s(&theirs)]));
    assert_eq!(tool("dpkg-deb", &["--field", s(&ours)]), tool("dpkg-deb", &["--field", s(&theirs)]));
}

fn sha(path: &Path) -> String {
    tool("sha256sum", &[s(path)]).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn same_contents_give_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (round, compression) in [(0, Compression::Xz), (1, Compression::Xz)] {
        let src = t.path().join(format!("split{round}"));
        pkgdest(&src);
        if round == 1 {
            // Different times, an extra hard link and a different umask-like mode on
            // the package root change nothing.
            Command::new("touch").args(["-d", "2001-02-03", s(&src.join("hello/usr/bin/hello"))]).status().unwrap();
            fs::hard_link(src.join("hello/usr/bin/hello"), t.path().join("elsewhere")).unwrap();
            fs::set_permissions(src.join("hello"), fs::Permissions::from_mode(0o700)).unwrap();
        }
        let deploy = t.path().join(format!("deploy{round}"));
        run(&request(&src, &deploy, compression, vec![package("hello", false)])).0.unwrap();
        digests.push(sha(&deploy.join("hello_1.0-r0_amd64.deb")));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn every_compression_is_readable() {
    for (compression, member) in [
        (Compression::Gzip, "data.tar.gz"),
        (Compression::Zstd, "data.tar.zst"),
        (Compression::None, "data.tar"),
        (Compression::Xz, "data.tar.xz"),
    ] {
        let t = tempfile::tempdir().unwrap();
        let (src, deploy) = (t.path().join("split"), t.path().join("deploy"));
        pkgdest(&src);
        run(&request(&src, &deploy, compression, vec![package("hello", false)])).0.unwrap();
        let deb = deploy.join("hello_1.0-r0_amd64.deb");
        assert!(tool("ar", &["t", s(&deb)]).lines().any(|l| l == member), "{compression:?}");
        let extracted = t.path().join("x");
        tool("dpkg-deb", &["--extract", s(&deb), s(&extracted)]);
        assert_eq!(fs::read(extracted.join("usr/bin/hello")).unwrap(), b"#!/bin/sh\necho hello\n");
    }
}

#[test]
fn dpkg_installs_the_package() {
    let t = tempfile::tempdir().unwrap();
    let (src, deploy) = (t.path().join("split"), t.path().join("deploy"));
    pkgdest(&src);
    run(&request(&src, &deploy, Compression::Xz, vec![package("hello", false)])).0.unwrap();
    let root = t.path().join("root");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let root_arg = format!("--root={}", root.display());
    let deb = deploy.join("hello_1.0-r0_amd64.deb");
    let mut args = vec![root_arg.as_str(), "--force-script-chrootless", "--force-architecture"];
    if !is_root() {
        args.push("--force-not-root");
    }
    let mut install = args.clone();
    install.extend(["--install", s(&deb)]);
    tool("dpkg", &install);
    assert_eq!(fs::read(root.join("usr/bin/hello")).unwrap(), b"#!/bin/sh\necho hello\n");
    assert_eq!(fs::read_link(root.join("usr/bin/hi")).unwrap(), PathBuf::from("hello"));
    let mut status = args.clone();
    status.extend(["--status", "hello"]);
    assert!(tool("dpkg", &status).contains("Status: install ok installed"));
}

fn is_root() -> bool {
    tool("id", &["-u"]).trim() == "0"
}

#[test]
fn bad_values_and_files_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let (src, deploy) = (t.path().join("split"), t.path().join("deploy"));
    pkgdest(&src);
    let mut bad = package("hello", false);
    bad.control.version = "r0".into();
    let err = run(&request(&src, &deploy, Compression::Xz, vec![bad])).0.unwrap_err();
    assert_eq!(err.to_string(), "package hello: field Version does not start with a digit: \"r0\"");

    let fifo = src.join("hello/run/fifo");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = run(&request(&src, &deploy, Compression::Xz, vec![package("hello", false)])).0.unwrap_err();
    assert!(err.to_string().contains("is not a regular file, directory or symbolic link"), "{err}");
    assert_eq!(fs::read_dir(&deploy).unwrap().count(), 0, "no partial package is left behind");
}
