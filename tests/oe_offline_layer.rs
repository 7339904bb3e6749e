//! `tests/layers/meta-oe-offline` against its `sources.tsv` and `sources-toolchain.tsv`:
//! for every recipe of the native bootstrap and of the closure of `gcc-cross-x86_64` and
//! `glibc` (but the few whose sources cannot be had here, reported as skipped with the
//! reason), each remote file of its SRC_URI, as rstore reads the recipe with
//! openembedded-core and the layer, is listed there with the recipe's sha256; and every
//! `.bbappend` starts with the comment that says why.
//!
//! Needs openembedded-core at the reference commit, so it is `#[ignore]`d;
//! `scripts/fidelity DIR` runs it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oe_core;

fn layer() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/layers/meta-oe-offline")
}

/// file name → sha256, from both lists.
fn sources() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for list in ["sources.tsv", "sources-toolchain.tsv"] {
        let text = std::fs::read_to_string(layer().join(list)).unwrap();
        for l in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "{list}: a row needs file, sha256 and where it comes from: {l:?}");
            assert!(out.insert(cols[0].to_owned(), cols[1].to_owned()).is_none(), "{list}: {} twice", cols[0]);
        }
    }
    out
}

/// The closure of `gcc-cross-x86_64 glibc` on openembedded-core master (BitBake's
/// pn-buildlist with the layer), besides the native bootstrap.
const TOOLCHAIN: &[&str] = &[
    "acl-native",
    "attr-native",
    "autoconf-archive-native",
    "binutils-cross-x86_64",
    "bison-native",
    "bzip2-native",
    "cmake-native",
    "curl-native",
    "dwarfsrcfiles-native",
    "e2fsprogs-native",
    "elfutils-native",
    "expat-native",
    "file-native",
    "gawk-native",
    "gcc-source-16.2.0",
    "gdbm-native",
    "glibc",
    "gmp-native",
    "gnutls-native",
    "gperf-native",
    "json-c-native",
    "libarchive-native",
    "libcap-native",
    "libcap-ng-native",
    "libedit-native",
    "libffi-native",
    "libgcrypt-native",
    "libgpg-error-native",
    "libidn2-native",
    "libmicrohttpd-native",
    "libmpc-native",
    "libpcre2-native",
    "libtasn1-native",
    "libunistring-native",
    "libxml2-native",
    "libxslt-native",
    "linux-libc-headers",
    "lua-native",
    "lzlib-native",
    "make-native",
    "meson-native",
    "mpfr-native",
    "ncurses-native",
    "nettle-native",
    "ninja-native",
    "openssl-native",
    "p11-kit-native",
    "patch-native",
    "perl-native",
    "pkgconf-native",
    "popt-native",
    "pseudo-native",
    "python3-build-native",
    "python3-flit-core-native",
    "python3-installer-native",
    "python3-packaging-native",
    "python3-pyproject-hooks-native",
    "python3-setuptools-native",
    "readline-native",
    "rpm-native",
    "rsync-native",
    "sqlite3-native",
    "unifdef-native",
    "unzip-native",
    "util-linux-libuuid-native",
    "util-linux-native",
    "zstd-native",
];

/// Recipes of the closure whose sources cannot be had on a machine that reaches only
/// Debian's archive, the package index and the crate registry, with why.
const BLOCKED: &[(&str, &str)] = &[
    ("python3-native", "3.14.7: Debian's 3.14.9 and 3.14.10 answer 404; 3.13 is another series"),
    ("perlcross-native", "1.6.4: not in Debian"),
    ("re2c-native", "4.5.1: every Debian re2c (3.0, 4.1, 4.6) answers 404"),
    ("gtk-doc-native", "1.36.1: every Debian gtk-doc (1.33.2, 1.34.0, 1.37.0) answers 404"),
    ("opkg-utils-native", "0.7.0: git on a Yocto Project host, not in Debian"),
];

/// A recipe's expanded variable, or one of its flags.
fn getvar(build: &Path, recipe: &str, var: &str, flag: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.arg("-C").arg(build).args(["getvar", recipe, var, "--value"]);
    if let Some(f) = flag {
        cmd.args(["--flag", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "rstore getvar {recipe} {var}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
#[ignore = "needs openembedded-core: scripts/fidelity DIR runs it"]
fn overlay_sources_are_listed_with_their_checksums() {
    let oe = oe_core("check the offline overlay layer");
    let build = common::oe_core_build_dir(&oe);
    let bblayers = build.path().join("conf/bblayers.conf");
    let mut text = std::fs::read_to_string(&bblayers).unwrap();
    text.push_str(&format!("BBLAYERS += \"{}\"\n", layer().display()));
    std::fs::write(&bblayers, text).unwrap();

    // The cross recipes' PNs are not their files' names: rstore finds them once parsed.
    let parse = Command::new(env!("CARGO_BIN_EXE_rstore")).arg("-C").arg(build.path()).args(["-q", "parse"]).output();
    let parse = parse.unwrap();
    assert!(parse.status.success(), "rstore parse: {}", String::from_utf8_lossy(&parse.stderr));
    let listed = sources();
    let bootstrap = [
        "quilt-native",
        "m4-native",
        "autoconf-native",
        "automake-native",
        "libtool-native",
        "gnu-config-native",
        "xz-native",
        "zlib-native",
        "flex-native",
        "gettext-minimal-native",
        "texinfo-dummy-native",
    ];
    let mut checked = 0;
    for recipe in bootstrap.iter().chain(TOOLCHAIN) {
        let src_uri = getvar(build.path(), recipe, "SRC_URI", None);
        for entry in src_uri.split_whitespace().filter(|u| !u.starts_with("file://")) {
            let mut parts = entry.split(';');
            let url = parts.next().unwrap();
            let params: BTreeMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
            assert!(
                !url.starts_with("git://") && !url.starts_with("gitsm://"),
                "{recipe}: {url} is a git source: the layer must point it at a tarball"
            );
            let name = params.get("downloadfilename").copied().unwrap_or_else(|| url.rsplit('/').next().unwrap());
            let flag = params.get("name").map_or("sha256sum".to_owned(), |n| format!("{n}.sha256sum"));
            let sha = getvar(build.path(), recipe, "SRC_URI", Some(&flag));
            assert_eq!(listed.get(name), Some(&sha), "{recipe}: {name} (sha256 {sha}) is not listed as such");
            checked += 1;
        }
    }
    eprintln!("{checked} remote files of {} recipes listed with their checksums", bootstrap.len() + TOOLCHAIN.len());
    for (recipe, why) in BLOCKED {
        eprintln!("skipped: {recipe}: its source cannot be had here ({why})");
    }

    let mut appends = Vec::new();
    let mut dirs = vec![layer()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "bbappend") {
                appends.push(p);
            }
        }
    }
    assert!(appends.len() >= 45, "{appends:?}");
    for p in appends {
        let first = std::fs::read_to_string(&p).unwrap().lines().next().unwrap_or_default().to_owned();
        assert!(first.starts_with("# ") && first.len() > 40, "{} must start with why: {first:?}", p.display());
    }
}
