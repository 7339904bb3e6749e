//! The fetch, unpack and patch requests the importer builds from a recipe, checked
//! against what BitBake's fetcher does with the same SRC_URI (mirror URLs as
//! `bb.fetch2.build_mirroruris` computes them, download names, checksum flags,
//! FILESPATH lookups, SRCREV, git clone names, unpack destinations, patch options).

use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rstore_evaluator::builtin::fetch::checksum::Expected;
use rstore_evaluator::builtin::fetch::{Candidate, CandidateKind, FetchRequest, Source, Stage};
use rstore_evaluator::builtin::patch::PatchRequest;
use rstore_evaluator::builtin::unpack::archive::{Compression, Format};
use rstore_evaluator::builtin::unpack::{UnpackAction, UnpackRequest};
use rstore_evaluator::builtin::{Bind, BuiltinRequest};
use rstore_importer::builtins::{BuildContext, request};
use rstore_importer::datastore::DataStore;
use rstore_importer::session::{Options, Session};
use rstore_importer::value::Value;

const SHA: &str = "9f2d35ac8b0a8a4a1b2c3d4e5f60718293a4b5c6d7e8f9011223344556677889";
const REV: &str = "0123456789abcdef0123456789abcdef01234567";

/// A layer with one recipe over the bundled meta-core, and a build directory.
struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new(recipe: &str, local_conf: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layer = root.join("meta-fx");
        fs::create_dir_all(layer.join("conf")).unwrap();
        fs::write(
            layer.join("conf/layer.conf"),
            "BBPATH .= \":${LAYERDIR}\"\nBBFILES += \"${LAYERDIR}/recipes-*/*/*.bb\"\nBBFILE_COLLECTIONS += \"fx\"\n\
             BBFILE_PATTERN_fx = \"^${LAYERDIR}/\"\nBBFILE_PRIORITY_fx = \"6\"\nLAYERDEPENDS_fx = \"core\"\n\
             LAYERSERIES_COMPAT_fx = \"rstore-1\"\n",
        )
        .unwrap();
        let files = layer.join("recipes-fx/fx/fx");
        fs::create_dir_all(files.join("conf")).unwrap();
        for name in ["fix.patch", "notapatch.patch", "data.tar.gz", "conf/site.conf", "series.diff"] {
            fs::write(files.join(name), name).unwrap();
        }
        fs::write(layer.join("recipes-fx/fx/fx_1.0.bb"), recipe).unwrap();
        let mirror = root.join("mirror");
        fs::create_dir_all(&mirror).unwrap();
        fs::write(mirror.join("foo-renamed.tgz"), "mirrored").unwrap();
        let build = root.join("build");
        fs::create_dir_all(build.join("conf")).unwrap();
        let core = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
            .join("layers/meta-core");
        fs::write(
            build.join("conf/bblayers.conf"),
            format!(
                "BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{} {}\"\n",
                core.display(),
                layer.display()
            ),
        )
        .unwrap();
        fs::write(build.join("conf/local.conf"), local_conf.replace("@MIRROR@", &mirror.display().to_string()))
            .unwrap();
        Fixture { tmp }
    }

    /// The recipe's datastore as the engine gives it to the built-ins.
    fn data(&self, session: &Session) -> Rc<DataStore> {
        let file = self.tmp.path().join("meta-fx/recipes-fx/fx/fx_1.0.bb");
        let (variants, _, _) = session.parse_file(&file).unwrap_or_else(|e| panic!("parsing: {e}"));
        let d = variants.into_iter().find(|v| v.name.is_empty()).unwrap().data.create_copy();
        d.set_var("TMPDIR", Value::str("/rstore/tmp"), false, None, "set").unwrap();
        d.set_var("DL_DIR", Value::str("/rstore/downloads"), false, None, "set").unwrap();
        d
    }

    fn ctx(&self) -> BuildContext {
        BuildContext { downloads: self.tmp.path().join("downloads"), ..BuildContext::default() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
}

fn recipe(src_uri: &str) -> String {
    format!(
        "SUMMARY = \"fetch requests\"\nLICENSE = \"MIT\"\nLIC_FILES_CHKSUM = \"\"\nSRC_URI = \"{src_uri}\"\n\
         SRC_URI[foo.sha256sum] = \"{SHA}\"\nSRCREV_extra = \"{REV}\"\n"
    )
}

const SRC_URI: &str = "https://example.org/rel/foo-${PV}.tar.gz;name=foo;downloadfilename=foo-renamed.tgz \
    git://git.example.com/path/to/proj.git;protocol=https;branch=main;name=extra;destsuffix=extra-src \
    file://fix.patch;striplevel=2;patchdir=sub \
    file://notapatch.patch;apply=no \
    file://data.tar.gz;subdir=data;striplevel=1 \
    file://conf/site.conf \
    file://series.diff;apply=yes;subdir=p";

const LOCAL_CONF: &str = "SOURCE_MIRROR_URL = \"file://@MIRROR@\"\n\
    MIRRORS = \"https://example.org/rel/ https://backup.example.net/pub/ \\n git://.*/.* https://downloads.example.net/mirror/sources/\"\n\
    BB_NO_NETWORK = \"1\"\n";

fn candidate(url: &str, stage: Stage, kind: CandidateKind) -> Candidate {
    Candidate { url: url.to_owned(), stage, kind }
}

/// One test running every case on one thread: the embedded interpreter's garbage
/// from one thread's datastores must not be collected on another.
#[test]
fn fetch_unpack_and_patch_requests() {
    requests_follow_bitbakes_fetcher();
    missing_mirror_files_are_left_out_and_the_network_policy_follows_the_configuration();
    bad_sources_are_clear_errors();
}

fn requests_follow_bitbakes_fetcher() {
    let fx = Fixture::new(&recipe(SRC_URI), LOCAL_CONF);
    let session = Session::open(&fx.path("build"), &Options::default()).unwrap();
    let d = fx.data(&session);
    let workdir = PathBuf::from(d.get_str("WORKDIR").unwrap().unwrap());
    assert!(workdir.starts_with("/rstore/tmp/work"), "{}", workdir.display());
    let fetched = workdir.join("rstore-fetched");
    let unpackdir = workdir.join("sources");
    let s = workdir.join("sources/fx-1.0");

    let BuiltinRequest::Fetch(f) = request("fetch", &d, &fx.ctx()).unwrap() else { panic!("not a fetch request") };
    let FetchRequest { recipe, downloads, fetched: fetched_dir, sources, policy, binds, .. } = &f;
    assert_eq!(recipe, "fx");
    assert_eq!(downloads, Path::new("/rstore/downloads"));
    assert_eq!(fetched_dir, &fetched);
    assert!(policy.no_network && !policy.premirror_only);
    assert!(BuiltinRequest::Fetch(f.clone()).network());

    // The tarball: BitBake's premirror from SOURCE_MIRROR_URL (bound in, as the file
    // exists), upstream, and the MIRRORS rewrite keeping the download name.
    let Source::File(tarball) = &sources[0] else { panic!("{:?}", sources[0]) };
    assert_eq!(tarball.name, "foo-renamed.tgz");
    assert_eq!(tarball.sha256_flag, "foo.sha256sum");
    assert_eq!(tarball.expected.sha256.as_ref().unwrap().hex(), SHA);
    assert_eq!(tarball.expected, Expected { md5: None, ..tarball.expected.clone() });
    assert_eq!(
        tarball.candidates,
        vec![
            candidate("file:///rstore/mirrors/0/foo-renamed.tgz", Stage::Premirror, CandidateKind::File),
            candidate("https://example.org/rel/foo-1.0.tar.gz", Stage::Upstream, CandidateKind::File),
            candidate("https://backup.example.net/pub/foo-renamed.tgz", Stage::Mirror, CandidateKind::File),
        ]
    );

    // The git repository: upstream over https, and the mirror tarball BitBake names.
    let Source::Git(git) = &sources[1] else { panic!("{:?}", sources[1]) };
    assert_eq!(git.revision, REV);
    assert_eq!(git.clone_name, "git.example.com.path.to.proj.git");
    assert_eq!(
        git.candidates,
        vec![
            candidate("https://git.example.com/path/to/proj.git", Stage::Upstream, CandidateKind::GitRepository),
            candidate(
                "https://downloads.example.net/mirror/sources/git2_git.example.com.path.to.proj.git.tar.gz",
                Stage::Mirror,
                CandidateKind::GitTarball
            ),
        ]
    );

    // Local files, found through FILESPATH and bound in read-only.
    let files = fx.path("meta-fx/recipes-fx/fx/fx");
    let locals: Vec<(String, PathBuf)> = sources[2..]
        .iter()
        .map(|s| match s {
            Source::Local(l) => (l.path.clone(), l.source.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        locals.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["fix.patch", "notapatch.patch", "data.tar.gz", "conf/site.conf", "series.diff"]
    );
    let mut expected_binds =
        vec![Bind { host: fx.path("downloads"), inside: "/rstore/downloads".into(), writable: true }];
    for (i, (path, inside)) in locals.iter().enumerate() {
        let base = Path::new(path).file_name().unwrap();
        assert_eq!(inside, &Path::new("/rstore/sources").join(i.to_string()).join(base));
        expected_binds.push(Bind { host: files.join(path), inside: inside.clone(), writable: false });
    }
    expected_binds.insert(
        1,
        Bind {
            host: fx.path("mirror/foo-renamed.tgz"),
            inside: "/rstore/mirrors/0/foo-renamed.tgz".into(),
            writable: false,
        },
    );
    if Path::new("/etc/ssl/certs").is_dir() {
        // For git over https.
        expected_binds.push(Bind { host: "/etc/ssl/certs".into(), inside: "/etc/ssl/certs".into(), writable: false });
    }
    assert_eq!(binds, &expected_binds);
    assert!(fx.path("downloads").is_dir(), "the host download cache exists for the bind");

    let BuiltinRequest::Unpack(UnpackRequest { unpackdir: u, entries, .. }) = request("unpack", &d, &fx.ctx()).unwrap()
    else {
        panic!()
    };
    assert_eq!(u, unpackdir);
    let actions: Vec<(PathBuf, UnpackAction)> = entries.into_iter().map(|e| (e.source, e.action)).collect();
    let local = |p: &str| fetched.join("local").join(p);
    let copy = |to: &str| UnpackAction::Copy { to: to.into() };
    assert_eq!(
        actions,
        vec![
            (
                fetched.join("foo-renamed.tgz"),
                UnpackAction::Extract { format: Format::Tar(Compression::Gzip), into: "".into(), strip: 0 }
            ),
            (fetched.join("git/git.example.com.path.to.proj.git").join(REV), copy("extra-src")),
            (local("fix.patch"), copy("fix.patch")),
            (local("notapatch.patch"), copy("notapatch.patch")),
            (
                local("data.tar.gz"),
                UnpackAction::Extract { format: Format::Tar(Compression::Gzip), into: "data".into(), strip: 1 }
            ),
            (local("conf/site.conf"), copy("conf/site.conf")),
            (local("series.diff"), copy("p/series.diff")),
        ]
    );

    let BuiltinRequest::Patch(PatchRequest { patches, .. }) = request("patch", &d, &fx.ctx()).unwrap() else {
        panic!()
    };
    let got: Vec<(PathBuf, PathBuf, u32)> = patches.into_iter().map(|p| (p.file, p.dir, p.striplevel)).collect();
    assert_eq!(
        got,
        vec![(unpackdir.join("fix.patch"), s.join("sub"), 2), (unpackdir.join("p/series.diff"), s.clone(), 1)],
        "apply=no keeps notapatch.patch out; apply=yes and .diff bring series.diff in"
    );
}

fn missing_mirror_files_are_left_out_and_the_network_policy_follows_the_configuration() {
    let fx = Fixture::new(
        &recipe("https://example.org/rel/other-${PV}.tar.gz;name=foo"),
        "SOURCE_MIRROR_URL = \"file://@MIRROR@\"\n",
    );
    let session = Session::open(&fx.path("build"), &Options::default()).unwrap();
    let d = fx.data(&session);
    let BuiltinRequest::Fetch(f) = request("fetch", &d, &fx.ctx()).unwrap() else { panic!() };
    assert!(!f.policy.no_network);
    let Source::File(file) = &f.sources[0] else { panic!() };
    assert_eq!(
        file.candidates,
        vec![candidate("https://example.org/rel/other-1.0.tar.gz", Stage::Upstream, CandidateKind::File)]
    );
    assert_eq!(f.binds.len(), 1, "only the download cache");
}

fn request_error(src_uri: &str, task: &str) -> String {
    let fx = Fixture::new(&recipe(src_uri), "");
    let session = Session::open(&fx.path("build"), &Options::default()).unwrap();
    let d = fx.data(&session);
    request(task, &d, &fx.ctx()).unwrap_err().to_string()
}

fn bad_sources_are_clear_errors() {
    let err = request_error("file://no-such-file.patch", "fetch");
    assert!(err.contains("file://no-such-file.patch was not found"), "{err}");
    assert!(err.contains("meta-fx/recipes-fx/fx/files/no-such-file.patch"), "the searched paths are listed: {err}");

    let err = request_error("svn://svn.example.org/repo;module=trunk;rev=5", "fetch");
    assert!(err.contains("rstore cannot fetch svn:// sources"), "{err}");

    let err = request_error("https://example.org/x.tar.gz;name=foo;foo.sha256sum=xyz", "fetch");
    assert!(err.contains("\"xyz\" is not a sha256 checksum"), "{err}");

    let err = request_error("file://../escape.patch", "fetch");
    assert!(err.contains("must not contain '..'"), "{err}");

    let err = request_error("file://fix.patch;striplevel=one", "patch");
    assert!(err.contains("invalid striplevel \"one\""), "{err}");

    let err = request_error("file://data.tar.gz;unpack=maybe", "unpack");
    assert!(err.contains("invalid value for unpack"), "{err}");
}
