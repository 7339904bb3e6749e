//! The `rootfs` built-in: packages written by `package-deb` installed into a root
//! file system whose dpkg database the real `dpkg` reads and extends.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rstore_evaluator::builtin::deb::archive::Compression;
use rstore_evaluator::builtin::deb::control::DebControl;
use rstore_evaluator::builtin::deb::{DebPackage, DebRequest};
use rstore_evaluator::builtin::rootfs::RootfsRequest;
use rstore_evaluator::builtin::{self, BuiltinError, BuiltinRequest};

/// One package to build: name, version, Depends, architecture, files (path, text).
struct Pkg<'a> {
    name: &'a str,
    version: &'a str,
    depends: &'a str,
    arch: &'a str,
    files: &'a [(&'a str, &'a str)],
}

fn pkg<'a>(name: &'a str, depends: &'a str, files: &'a [(&'a str, &'a str)]) -> Pkg<'a> {
    Pkg { name, version: "1.0-r0", depends, arch: "amd64", files }
}

/// Write the packages of one recipe into `feed/<arch>/` with the package-deb built-in.
fn feed(work: &Path, feed: &Path, packages: &[Pkg<'_>]) {
    let split = work.join(format!("split-{}", feed.file_name().unwrap().to_str().unwrap()));
    let mut debs = Vec::new();
    for p in packages {
        let root = split.join(p.name);
        fs::create_dir_all(&root).unwrap();
        for (path, text) in p.files {
            let file = root.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            if let Some(target) = text.strip_prefix("->") {
                std::os::unix::fs::symlink(target, &file).unwrap();
            } else {
                fs::write(&file, text).unwrap();
            }
        }
        debs.push(DebPackage {
            file_name: format!("{}_{}_{}.deb", p.name, p.version, p.arch),
            allow_empty: true,
            control: DebControl {
                package: p.name.into(),
                version: p.version.into(),
                architecture: p.arch.into(),
                maintainer: "rstore distribution <distro@rstore.invalid>".into(),
                depends: p.depends.into(),
                section: "base".into(),
                priority: "optional".into(),
                homepage: String::new(),
                source: p.name.into(),
                summary: format!("The {} package", p.name),
                description: vec![format!("{} for the tests.", p.name)],
            },
        });
    }
    let arch = packages[0].arch;
    let dir = if arch == "all" { "all" } else { "x86_64" };
    let req = BuiltinRequest::PackageDeb(DebRequest {
        recipe: "test".into(),
        pkgdest: split,
        deploy_dir: feed.join(dir),
        compression: Compression::Xz,
        source_date_epoch: 1577836800,
        packages: debs,
    });
    builtin::run(&req, &mut Vec::new()).unwrap();
}

fn rootfs_request(work: &Path, feeds: Vec<PathBuf>, install: &[&str]) -> BuiltinRequest {
    BuiltinRequest::Rootfs(RootfsRequest {
        image: "test-image".into(),
        feeds,
        install: install.iter().map(|s| (*s).to_owned()).collect(),
        rootfs: work.join("rootfs"),
        dirs: ["dev", "proc", "tmp", "var/log"].iter().map(|s| (*s).to_owned()).collect(),
        manifest: work.join("deploy-image/test-image.manifest"),
    })
}

fn run(req: &BuiltinRequest) -> Result<String, Box<BuiltinError>> {
    let mut log = Vec::new();
    builtin::run(req, &mut log).map(|()| String::from_utf8(log).unwrap()).map_err(Box::new)
}

/// Three recipes' feeds: a group pulling in busybox and zlib; zlib-dev; a noarch group.
fn standard_feeds(work: &Path) -> Vec<PathBuf> {
    let (a, b, c) = (work.join("busybox"), work.join("zlib"), work.join("group"));
    feed(
        work,
        &a,
        &[pkg(
            "busybox",
            "",
            &[("bin/busybox", "#!/bin/sh\n"), ("bin/sh", "->busybox"), ("usr/bin/env", "->/bin/busybox")],
        )],
    );
    feed(
        work,
        &b,
        &[
            pkg("zlib", "", &[("usr/lib/libz.so.1.3.1", "ELF"), ("usr/lib/libz.so.1", "->libz.so.1.3.1")]),
            pkg(
                "zlib-dev",
                "zlib (= 1.0-r0)",
                &[("usr/include/zlib.h", "/* zlib */"), ("usr/lib/libz.so", "->libz.so.1")],
            ),
        ],
    );
    feed(work, &c, &[Pkg { arch: "all", ..pkg("base-group", "busybox, zlib (>= 1.0)", &[]) }]);
    vec![a, b, c]
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display())).env("LC_ALL", "C").env("COLUMNS", "200");
    if Command::new("id").arg("-u").output().unwrap().stdout != b"0\n" {
        cmd.arg("--force-not-root");
    }
    let out = cmd.args(args).output().expect("dpkg runs");
    assert!(
        out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn installs_the_closure_and_dpkg_reads_the_result() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let feeds = standard_feeds(work);
    let log = run(&rootfs_request(work, feeds, &["base-group"])).unwrap();
    assert!(log.contains("Installing busybox 1.0-r0"), "{log}");
    let root = work.join("rootfs");

    assert_eq!(
        fs::read_to_string(work.join("deploy-image/test-image.manifest")).unwrap(),
        "base-group all 1.0-r0\nbusybox amd64 1.0-r0\nzlib amd64 1.0-r0\n"
    );
    assert_eq!(fs::read(root.join("usr/lib/libz.so.1.3.1")).unwrap(), b"ELF");
    assert_eq!(fs::read_link(root.join("bin/sh")).unwrap(), PathBuf::from("busybox"));
    assert!(!root.join("usr/include").exists(), "zlib-dev is not in the closure");
    assert_eq!(fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777, 0o1777);
    assert!(root.join("var/log").is_dir() && root.join("dev").is_dir());

    let list = dpkg(&root, &["-l"]);
    for name in ["base-group", "busybox", "zlib"] {
        assert!(list.lines().any(|l| l.starts_with("ii  ") && l.split_whitespace().nth(1) == Some(name)), "{list}");
    }
    assert!(dpkg(&root, &["-L", "zlib"]).lines().any(|l| l == "/usr/lib/libz.so.1.3.1"));
    assert!(dpkg(&root, &["-S", "/bin/busybox"]).starts_with("busybox: /bin/busybox"));
    assert_eq!(dpkg(&root, &["--audit"]), "");
    assert_eq!(dpkg(&root, &["--verify"]), "", "every file matches the md5sums recorded");

    // The database takes more packages: install zlib-dev with dpkg itself.
    let dev = work.join("zlib/x86_64/zlib-dev_1.0-r0_amd64.deb");
    dpkg(&root, &["--force-script-chrootless", "--install", dev.to_str().unwrap()]);
    assert_eq!(fs::read(root.join("usr/include/zlib.h")).unwrap(), b"/* zlib */");
    assert!(dpkg(&root, &["-s", "zlib-dev"]).contains("Status: install ok installed"));
}

#[test]
fn the_same_packages_give_the_same_tree() {
    let listing = |work: &Path| -> Vec<String> {
        let out = Command::new("find").arg(work.join("rootfs")).args(["-printf", "%P %y %m %s %l\n"]).output().unwrap();
        let mut lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
        lines.sort();
        lines.push(fs::read_to_string(work.join("rootfs/var/lib/dpkg/status")).unwrap());
        lines
    };
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut results = Vec::new();
    for t in [&t1, &t2] {
        let feeds = standard_feeds(t.path());
        run(&rootfs_request(t.path(), feeds, &["base-group", "zlib-dev"])).unwrap();
        results.push(listing(t.path()));
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn a_missing_package_names_who_wanted_it() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let a = work.join("a");
    feed(work, &a, &[pkg("group", "busybox, hello", &[]), pkg("busybox", "", &[("bin/busybox", "x")])]);
    let err = run(&rootfs_request(work, vec![a.clone()], &["group"])).unwrap_err();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert_eq!(
        text,
        "test-image: the packages to install cannot be determined: no package hello (needed by group) among the 2 packages built for this image"
    );
    let err = run(&rootfs_request(work, vec![a], &["nothing"])).unwrap_err();
    assert!(format!("{:?}", err).contains("needed_by: \"IMAGE_INSTALL\""), "{err:?}");
}

#[test]
fn version_constraints_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let a = work.join("a");
    feed(work, &a, &[pkg("app", "lib (>= 2.0)", &[]), pkg("lib", "", &[])]);
    let err = run(&rootfs_request(work, vec![a], &["app"])).unwrap_err();
    let source = std::error::Error::source(&err).expect("a cause").to_string();
    assert_eq!(source, "app needs lib (>= 2.0), but the package built is lib 1.0-r0");
}

#[test]
fn two_packages_shipping_one_file_conflict() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let a = work.join("a");
    feed(work, &a, &[pkg("one", "", &[("usr/bin/tool", "1")]), pkg("two", "", &[("usr/bin/tool", "2")])]);
    let err = run(&rootfs_request(work, vec![a], &["one", "two"])).unwrap_err();
    assert_eq!(err.to_string(), "/usr/bin/tool: two would overwrite this file of one");
}

#[test]
fn a_package_offered_twice_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let (a, b) = (work.join("a"), work.join("b"));
    feed(work, &a, &[pkg("same", "", &[])]);
    feed(work, &b, &[pkg("same", "", &[])]);
    let err = run(&rootfs_request(work, vec![a, b], &["same"])).unwrap_err();
    assert!(err.to_string().starts_with("package same is offered twice: "), "{err}");
}

#[test]
fn files_that_are_not_packages_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let a = work.join("a");
    fs::create_dir_all(a.join("x86_64")).unwrap();
    fs::write(a.join("x86_64/broken_1.0_amd64.deb"), b"!<arch>\nnot really").unwrap();
    let err = run(&rootfs_request(work, vec![a], &["broken"])).unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
    assert!(text.contains("broken_1.0_amd64.deb"), "{text}");
}
