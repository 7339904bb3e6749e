//! The `package` built-in splits an installed tree into packages the way
//! package.bbclass does: first matching package wins, globs as Python's, `${D}`
//! left as it was, nothing installed lost.

use std::fs;
use std::path::{Path, PathBuf};

use rstore_evaluator::builtin::package::{PackageFiles, PackageRequest};
use rstore_evaluator::builtin::{self, BuiltinError, BuiltinRequest};

fn files(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

/// PACKAGES and FILES as package.bbclass sets them for a recipe "zlib" (prefix /usr).
fn zlib_packages() -> Vec<PackageFiles> {
    vec![
        PackageFiles { name: "zlib-staticdev".into(), files: files("/usr/lib/*.a /lib/*.a") },
        PackageFiles {
            name: "zlib-dev".into(),
            files: files(
                "/usr/include /usr/lib/lib*.so /usr/lib/*.la /lib/*.so /usr/lib/pkgconfig /usr/share/pkgconfig",
            ),
        },
        PackageFiles { name: "zlib-doc".into(), files: files("/usr/share/doc /usr/share/man /usr/share/info") },
        PackageFiles { name: "zlib-locale".into(), files: files("/usr/share/locale") },
        PackageFiles {
            name: "zlib".into(),
            files: files("/usr/bin/* /usr/sbin/* /usr/lib/lib*.so.* /etc /var /lib/*.so.* /usr/share/zlib"),
        },
    ]
}

fn install_tree(d: &Path) {
    for (path, text) in [
        ("usr/include/zlib.h", "h"),
        ("usr/include/zconf.h", "h"),
        ("usr/lib/libz.a", "a"),
        ("usr/lib/libz.so.1.3.1", "so"),
        ("usr/lib/pkgconfig/zlib.pc", "pc"),
        ("usr/share/man/man3/zlib.3", "man"),
        ("usr/bin/minigzip", "bin"),
    ] {
        let p = d.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    std::os::unix::fs::symlink("libz.so.1.3.1", d.join("usr/lib/libz.so.1")).unwrap();
    std::os::unix::fs::symlink("libz.so.1", d.join("usr/lib/libz.so")).unwrap();
}

fn request(work: &Path, packages: Vec<PackageFiles>) -> BuiltinRequest {
    BuiltinRequest::Package(PackageRequest {
        recipe: "zlib".into(),
        image: work.join("image"),
        pkgd: work.join("package"),
        pkgdest: work.join("packages-split"),
        packages,
    })
}

fn run(req: &BuiltinRequest) -> Result<String, Box<BuiltinError>> {
    let mut log = Vec::new();
    builtin::run(req, &mut log).map(|()| String::from_utf8(log).unwrap()).map_err(Box::new)
}

/// Every non-directory below `dir`, relative, sorted.
fn contents(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries {
            let e = e.unwrap();
            let path: PathBuf = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn splits_like_package_bbclass() {
    let t = tempfile::tempdir().unwrap();
    install_tree(&t.path().join("image"));
    let before = contents(&t.path().join("image"));
    run(&request(t.path(), zlib_packages())).unwrap();
    let split = t.path().join("packages-split");
    assert_eq!(contents(&split.join("zlib-staticdev")), ["usr/lib/libz.a"]);
    assert_eq!(
        contents(&split.join("zlib-dev")),
        ["usr/include/zconf.h", "usr/include/zlib.h", "usr/lib/libz.so", "usr/lib/pkgconfig/zlib.pc"]
    );
    assert_eq!(contents(&split.join("zlib-doc")), ["usr/share/man/man3/zlib.3"]);
    assert!(split.join("zlib-locale").is_dir() && contents(&split.join("zlib-locale")).is_empty());
    assert_eq!(contents(&split.join("zlib")), ["usr/bin/minigzip", "usr/lib/libz.so.1", "usr/lib/libz.so.1.3.1"]);
    assert_eq!(fs::read_link(split.join("zlib/usr/lib/libz.so.1")).unwrap(), PathBuf::from("libz.so.1.3.1"));
    assert_eq!(contents(&t.path().join("image")), before, "${{D}} stays as do_install left it");
    assert!(contents(&t.path().join("package")).is_empty());
}

#[test]
fn the_first_package_that_matches_wins() {
    let t = tempfile::tempdir().unwrap();
    install_tree(&t.path().join("image"));
    let mut packages = vec![PackageFiles { name: "zlib-all-libs".into(), files: files("/usr/lib") }];
    packages.extend(zlib_packages());
    run(&request(t.path(), packages)).unwrap();
    let split = t.path().join("packages-split");
    assert_eq!(contents(&split.join("zlib-all-libs")).len(), 5, "the whole directory with everything below");
    assert_eq!(contents(&split.join("zlib")), ["usr/bin/minigzip"]);
}

#[test]
fn unpackaged_files_are_listed() {
    let t = tempfile::tempdir().unwrap();
    install_tree(&t.path().join("image"));
    fs::create_dir_all(t.path().join("image/opt/extra")).unwrap();
    fs::write(t.path().join("image/opt/extra/b"), "").unwrap();
    fs::write(t.path().join("image/opt/a"), "").unwrap();
    let err = run(&request(t.path(), zlib_packages())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "zlib: these installed files are in no package (add them to a FILES:<package>):\n  /opt/a\n  /opt/extra/b"
    );
}

#[test]
fn relative_patterns_are_refused() {
    let t = tempfile::tempdir().unwrap();
    install_tree(&t.path().join("image"));
    let packages = vec![PackageFiles { name: "zlib".into(), files: files("usr/lib") }];
    let err = run(&request(t.path(), packages)).unwrap_err();
    assert_eq!(err.to_string(), "FILES:zlib: usr/lib is not an absolute path");
}

#[test]
fn nothing_installed_gives_empty_packages() {
    let t = tempfile::tempdir().unwrap();
    run(&request(t.path(), zlib_packages())).unwrap();
    assert!(t.path().join("packages-split/zlib").is_dir());
}
