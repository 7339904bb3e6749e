//! The fetch built-in run for real on temporary directories: downloads over HTTP from a
//! server on the loopback interface, `file://` mirrors, the checksum index of the
//! download cache, the network policy, and git repositories served by `file://`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstore_evaluator::builtin::fetch::checksum::{Algorithm, Checksum, Expected, Hasher};
use rstore_evaluator::builtin::fetch::downloads::{DownloadCache, INDEX_DIR};
use rstore_evaluator::builtin::fetch::{
    Candidate, CandidateKind, FetchError, FetchRequest, GitSource, HttpSettings, LocalSource, NetworkPolicy,
    RemoteFile, Reporter, Source, Stage, git_checkout_dir,
};

/// What the test server answers for a path.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    /// The body with `Content-Encoding: gzip` (a server that labels .tar.gz that way).
    GzipLabelled(Vec<u8>),
    Status(u16),
    /// `failures` answers with `status`, then the body.
    FlakyThen {
        failures: usize,
        status: u16,
        body: Vec<u8>,
    },
    /// Announces `declared` bytes, sends `body` (shorter) and closes.
    Truncated {
        declared: usize,
        body: Vec<u8>,
    },
}

/// A small HTTP/1.1 server on 127.0.0.1 for one test: answers from a table, counts
/// requests per path, stops when dropped (or after 60 s).
struct Server {
    addr: SocketAddr,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(routes: Vec<(&str, Reply)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let routes: BTreeMap<String, Reply> = routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect();
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline && served < 200 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let _ = serve(stream, &routes, &h);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { addr, hits, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut stream: TcpStream,
    routes: &BTreeMap<String, Reply>,
    hits: &Mutex<BTreeMap<String, usize>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let n = {
        let mut h = hits.lock().unwrap();
        let e = h.entry(path.clone()).or_insert(0);
        *e += 1;
        *e
    };
    let respond = |stream: &mut TcpStream, status: u16, extra: &str, declared: usize, body: &[u8]| {
        let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {declared}\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)
    };
    match routes.get(&path) {
        None => respond(&mut stream, 404, "", 0, b""),
        Some(Reply::Body(b)) => respond(&mut stream, 200, "", b.len(), b),
        Some(Reply::GzipLabelled(b)) => respond(&mut stream, 200, "Content-Encoding: gzip\r\n", b.len(), b),
        Some(Reply::Status(s)) => respond(&mut stream, *s, "", 0, b""),
        Some(Reply::FlakyThen { failures, status, body }) => {
            if n <= *failures {
                respond(&mut stream, *status, "", 0, b"")
            } else {
                respond(&mut stream, 200, "", body.len(), body)
            }
        }
        Some(Reply::Truncated { declared, body }) => respond(&mut stream, 200, "", *declared, body),
    }
}

/// Records what a fetch reports.
#[derive(Default)]
struct Log(Vec<String>);

impl Reporter for Log {
    fn message(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
    fn progress(&mut self, url: &str, received: u64, total: Option<u64>) {
        self.0.push(format!("progress {url} {received} {total:?}"));
    }
}

fn sha256(data: &[u8]) -> Checksum {
    let mut h = Hasher::new();
    h.update(data);
    h.finish().sha256
}

fn expect(data: &[u8]) -> Expected {
    Expected { sha256: Some(sha256(data)), md5: None }
}

fn candidate(url: String, stage: Stage) -> Candidate {
    Candidate { url, stage, kind: CandidateKind::File }
}

struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup { tmp: tempfile::tempdir().unwrap() }
    }
    fn downloads(&self) -> PathBuf {
        self.tmp.path().join("downloads")
    }
    fn fetched(&self) -> PathBuf {
        self.tmp.path().join("work/rstore-fetched")
    }
    fn request(&self, sources: Vec<Source>) -> FetchRequest {
        FetchRequest {
            recipe: "demo".into(),
            downloads: self.downloads(),
            fetched: self.fetched(),
            sources,
            policy: NetworkPolicy::default(),
            http: HttpSettings {
                attempts: 3,
                backoff_ms: 10,
                connect_timeout_secs: 5,
                read_timeout_secs: 5,
                ..HttpSettings::default()
            },
            binds: vec![],
        }
    }
    fn run(&self, req: &FetchRequest) -> (Result<(), FetchError>, Log) {
        let mut log = Log::default();
        let r = rstore_evaluator::builtin::fetch::run(req, &mut log);
        (r, log)
    }
    /// Files being written in the cache (must be none after any fetch).
    fn partial_files(&self) -> usize {
        fs::read_dir(self.downloads().join(INDEX_DIR).join("tmp")).map(|d| d.count()).unwrap_or(0)
    }
}

fn remote(name: &str, expected: Expected, candidates: Vec<Candidate>) -> Source {
    Source::File(RemoteFile {
        url: format!("https://upstream.invalid/{name}"),
        name: name.into(),
        expected,
        sha256_flag: "sha256sum".into(),
        candidates,
    })
}

#[test]
fn http_download_lands_in_cache_index_and_workdir_then_needs_no_network() {
    let body = b"the contents of a source tarball".repeat(1000);
    let server = Server::start(vec![("/pkg-1.0.tar.gz", Reply::Body(body.clone()))]);
    let s = Setup::new();
    let req = s.request(vec![remote(
        "pkg-1.0.tar.gz",
        expect(&body),
        vec![candidate(server.url("/pkg-1.0.tar.gz"), Stage::Upstream)],
    )]);
    let (r, log) = s.run(&req);
    r.unwrap();
    assert_eq!(fs::read(s.fetched().join("pkg-1.0.tar.gz")).unwrap(), body);
    assert_eq!(fs::read(s.downloads().join("pkg-1.0.tar.gz")).unwrap(), body);
    let cache = DownloadCache::open(&s.downloads()).unwrap();
    assert_eq!(fs::read(cache.index_entry(&sha256(&body))).unwrap(), body);
    assert!(log.0.iter().any(|l| l.starts_with("progress")), "progress was reported: {:?}", log.0);
    assert_eq!(s.partial_files(), 0);
    assert_eq!(server.hits("/pkg-1.0.tar.gz"), 1);

    // Again, with the network off: the cache satisfies it.
    fs::remove_dir_all(s.fetched()).unwrap();
    let mut again = req.clone();
    again.policy.no_network = true;
    s.run(&again).0.unwrap();
    assert_eq!(fs::read(s.fetched().join("pkg-1.0.tar.gz")).unwrap(), body);
    assert_eq!(server.hits("/pkg-1.0.tar.gz"), 1, "the cached file was used");
}

#[test]
fn wrong_checksum_fails_with_expected_and_actual_and_leaves_nothing() {
    let served = b"not what the recipe expects".to_vec();
    let wanted = b"the real file".to_vec();
    let server = Server::start(vec![("/a.tar.xz", Reply::Body(served.clone()))]);
    let s = Setup::new();
    let req =
        s.request(vec![remote("a.tar.xz", expect(&wanted), vec![candidate(server.url("/a.tar.xz"), Stage::Upstream)])]);
    let err = s.run(&req).0.unwrap_err().to_string();
    assert!(err.contains(sha256(&wanted).hex()), "expected checksum named: {err}");
    assert!(err.contains(sha256(&served).hex()), "actual checksum named: {err}");
    assert!(err.contains("SRC_URI[sha256sum]"), "hint given: {err}");
    assert!(!s.downloads().join("a.tar.xz").exists());
    assert!(!s.fetched().join("a.tar.xz").exists());
    assert_eq!(s.partial_files(), 0, "the temporary file was deleted");
}

#[test]
fn transient_errors_are_retried_and_missing_files_fall_through_to_mirrors() {
    let body = b"retry me".to_vec();
    let other = b"another file".to_vec();
    let server = Server::start(vec![
        ("/flaky.tar.gz", Reply::FlakyThen { failures: 2, status: 503, body: body.clone() }),
        ("/gone.tar.gz", Reply::Status(410)),
        ("/mirror/gone.tar.gz", Reply::Body(other.clone())),
    ]);
    let s = Setup::new();
    let req = s.request(vec![
        remote("flaky.tar.gz", expect(&body), vec![candidate(server.url("/flaky.tar.gz"), Stage::Upstream)]),
        remote(
            "gone.tar.gz",
            expect(&other),
            vec![
                candidate(server.url("/gone.tar.gz"), Stage::Upstream),
                candidate(server.url("/mirror/gone.tar.gz"), Stage::Mirror),
            ],
        ),
    ]);
    let (r, log) = s.run(&req);
    r.unwrap();
    assert_eq!(server.hits("/flaky.tar.gz"), 3, "two 503s, then success");
    assert!(log.0.iter().any(|l| l.contains("HTTP status 503") && l.contains("trying again")), "{:?}", log.0);
    assert_eq!(server.hits("/gone.tar.gz"), 1, "a 410 is not retried");
    assert_eq!(fs::read(s.fetched().join("gone.tar.gz")).unwrap(), other);
}

#[test]
fn size_limit_truncation_and_content_encoding() {
    let big = vec![7u8; 4096];
    let gz = b"\x1f\x8b pretend gzip bytes".to_vec();
    let server = Server::start(vec![
        ("/big.bin", Reply::Body(big.clone())),
        ("/short.tar", Reply::Truncated { declared: 1000, body: vec![1u8; 10] }),
        ("/raw.tar.gz", Reply::GzipLabelled(gz.clone())),
    ]);
    let s = Setup::new();
    let mut req =
        s.request(vec![remote("big.bin", expect(&big), vec![candidate(server.url("/big.bin"), Stage::Upstream)])]);
    req.http.max_bytes = 1000;
    let err = s.run(&req).0.unwrap_err().to_string();
    assert!(err.contains("larger than the limit of 1000 bytes"), "{err}");

    let req = s.request(vec![remote(
        "short.tar",
        expect(&[1u8; 1000]),
        vec![candidate(server.url("/short.tar"), Stage::Upstream)],
    )]);
    let err = s.run(&req).0.unwrap_err().to_string();
    assert!(err.contains("short.tar"), "{err}");
    assert_eq!(server.hits("/short.tar"), 3, "a cut transfer is retried");
    assert_eq!(s.partial_files(), 0);

    // Saved as served, not decoded.
    let req =
        s.request(vec![remote("raw.tar.gz", expect(&gz), vec![candidate(server.url("/raw.tar.gz"), Stage::Upstream)])]);
    s.run(&req).0.unwrap();
    assert_eq!(fs::read(s.fetched().join("raw.tar.gz")).unwrap(), gz);
}

#[test]
fn premirror_file_is_used_before_upstream() {
    let body = b"from the mirror".to_vec();
    let server = Server::start(vec![("/up.tar.bz2", Reply::Body(body.clone()))]);
    let s = Setup::new();
    let mirror = s.tmp.path().join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join("up.tar.bz2"), &body).unwrap();
    let req = s.request(vec![remote(
        "up.tar.bz2",
        expect(&body),
        vec![
            candidate(format!("file://{}/up.tar.bz2", mirror.display()), Stage::Premirror),
            candidate(server.url("/up.tar.bz2"), Stage::Upstream),
        ],
    )]);
    s.run(&req).0.unwrap();
    assert_eq!(server.hits("/up.tar.bz2"), 0);
    assert_eq!(fs::read(s.downloads().join("up.tar.bz2")).unwrap(), body);
}

#[test]
fn without_network_only_cache_and_local_mirrors_can_satisfy_a_fetch() {
    let body = b"offline".to_vec();
    let s = Setup::new();
    let mut req = s.request(vec![remote(
        "off.tar.gz",
        expect(&body),
        vec![candidate("https://example.invalid/off.tar.gz".into(), Stage::Upstream)],
    )]);
    req.policy.no_network = true;
    let err = s.run(&req).0.unwrap_err().to_string();
    assert!(err.contains("BB_NO_NETWORK"), "{err}");
    assert!(err.contains("off.tar.gz"), "{err}");

    // Any file with the right checksum satisfies it, whatever its name.
    let elsewhere = s.tmp.path().join("renamed-by-someone.tgz");
    fs::write(&elsewhere, &body).unwrap();
    let cache = DownloadCache::open(&s.downloads()).unwrap();
    cache.import(&elsewhere, "renamed-by-someone.tgz").unwrap();
    let (r, log) = s.run(&req);
    r.unwrap();
    assert_eq!(fs::read(s.fetched().join("off.tar.gz")).unwrap(), body);
    assert_eq!(fs::read(s.downloads().join("off.tar.gz")).unwrap(), body, "now also under its own name");
    assert!(log.0.iter().any(|l| l.contains("by checksum")), "{:?}", log.0);
}

#[test]
fn a_damaged_cache_file_is_not_trusted() {
    let body = b"good contents".to_vec();
    let server = Server::start(vec![("/d.tar", Reply::Body(body.clone()))]);
    let s = Setup::new();
    fs::create_dir_all(s.downloads()).unwrap();
    fs::write(s.downloads().join("d.tar"), b"damaged").unwrap();
    let req = s.request(vec![remote("d.tar", expect(&body), vec![candidate(server.url("/d.tar"), Stage::Upstream)])]);
    s.run(&req).0.unwrap();
    assert_eq!(fs::read(s.downloads().join("d.tar")).unwrap(), body);
    let aside = s.downloads().join(format!("d.tar_bad-checksum_{}", sha256(b"damaged").hex()));
    assert_eq!(fs::read(aside).unwrap(), b"damaged", "the damaged file is moved aside, not lost");
}

#[test]
fn a_missing_checksum_is_an_error_that_gives_the_line_to_add() {
    let body = b"unchecked".to_vec();
    let server = Server::start(vec![("/u.zip", Reply::Body(body.clone()))]);
    let s = Setup::new();
    let req =
        s.request(vec![remote("u.zip", Expected::default(), vec![candidate(server.url("/u.zip"), Stage::Upstream)])]);
    let err = s.run(&req).0.unwrap_err().to_string();
    assert!(err.contains(&format!("SRC_URI[sha256sum] = \"{}\"", sha256(&body).hex())), "{err}");
    assert!(!s.downloads().join("u.zip").exists(), "nothing unverified enters the cache");
}

#[test]
fn md5_only_checksums_verify_too() {
    let body = b"old recipe".to_vec();
    let mut h = Hasher::new();
    h.update(&body);
    let md5 = h.finish().md5;
    let bad = Checksum::parse(Algorithm::Md5, &"0".repeat(32)).unwrap();
    let s = Setup::new();
    let mirror = s.tmp.path().join("m.tar");
    fs::write(&mirror, &body).unwrap();
    let url = format!("file://{}", mirror.display());
    let req = s.request(vec![remote(
        "m.tar",
        Expected { sha256: None, md5: Some(bad) },
        vec![candidate(url.clone(), Stage::Upstream)],
    )]);
    assert!(s.run(&req).0.unwrap_err().to_string().contains("md5 mismatch"));
    let req = s.request(vec![remote(
        "m.tar",
        Expected { sha256: None, md5: Some(md5) },
        vec![candidate(url, Stage::Upstream)],
    )]);
    s.run(&req).0.unwrap();
}

#[test]
fn local_files_and_directories_are_copied_under_local() {
    let s = Setup::new();
    let layer = s.tmp.path().join("layer");
    fs::create_dir_all(layer.join("conf.d/sub")).unwrap();
    fs::write(layer.join("defconfig"), "CONFIG_X=y\n").unwrap();
    fs::write(layer.join("conf.d/sub/a.conf"), "a\n").unwrap();
    let req = s.request(vec![
        Source::Local(LocalSource {
            url: "file://defconfig".into(),
            path: "defconfig".into(),
            source: layer.join("defconfig"),
        }),
        Source::Local(LocalSource {
            url: "file://extra/conf.d".into(),
            path: "extra/conf.d".into(),
            source: layer.join("conf.d"),
        }),
    ]);
    s.run(&req).0.unwrap();
    assert_eq!(fs::read_to_string(s.fetched().join("local/defconfig")).unwrap(), "CONFIG_X=y\n");
    assert_eq!(fs::read_to_string(s.fetched().join("local/extra/conf.d/sub/a.conf")).unwrap(), "a\n");
    let req = s.request(vec![Source::Local(LocalSource {
        url: "file://gone".into(),
        path: "gone".into(),
        source: layer.join("gone"),
    })]);
    assert!(s.run(&req).0.unwrap_err().to_string().contains("gone"));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository with two commits; returns (path, first, second).
fn repository(root: &Path) -> (PathBuf, String, String) {
    let repo = root.join("upstream.git-work");
    fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    fs::write(repo.join("README"), "one\n").unwrap();
    fs::write(repo.join("src/run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(repo.join("src/run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    fs::write(repo.join("README"), "two\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "two"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (repo, first, second)
}

fn git_source(repo: &Path, revision: &str) -> Source {
    Source::Git(GitSource {
        url: "git://example.invalid/upstream.git;branch=main".into(),
        revision: revision.into(),
        clone_name: "example.invalid.upstream.git".into(),
        candidates: vec![Candidate {
            url: format!("file://{}", repo.display()),
            stage: Stage::Upstream,
            kind: CandidateKind::GitRepository,
        }],
        subpath: None,
    })
}

#[test]
fn git_revision_is_cloned_checked_out_and_then_served_from_the_cache() {
    let s = Setup::new();
    let (repo, first, second) = repository(s.tmp.path());
    s.run(&s.request(vec![git_source(&repo, &first)])).0.unwrap();
    let out = git_checkout_dir(&s.fetched(), "example.invalid.upstream.git", &first);
    assert_eq!(fs::read_to_string(out.join("README")).unwrap(), "one\n");
    assert!(!out.join(".git").exists(), "no repository metadata in the output");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(out.join("src/run.sh")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755);
    assert!(s.downloads().join("git2/example.invalid.upstream.git").is_dir(), "bare clone cached");

    // The other revision, with the source gone and the network off: the cache has it.
    let moved = s.tmp.path().join("moved-away");
    fs::rename(&repo, &moved).unwrap();
    let mut req = s.request(vec![git_source(&repo, &second)]);
    req.policy.no_network = true;
    s.run(&req).0.unwrap();
    let out2 = git_checkout_dir(&s.fetched(), "example.invalid.upstream.git", &second);
    assert_eq!(fs::read_to_string(out2.join("README")).unwrap(), "two\n");

    // A revision nobody has fails, naming it.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = s.run(&s.request(vec![git_source(&moved, missing)])).0.unwrap_err().to_string();
    assert!(err.contains(missing), "{err}");
    let err = s.run(&s.request(vec![git_source(&moved, "main")])).0.unwrap_err().to_string();
    assert!(err.contains("not a full commit hash"), "{err}");
}

#[test]
fn git_subpath_and_mirror_tarball() {
    let s = Setup::new();
    let (repo, first, _) = repository(s.tmp.path());
    // A mirror tarball of a bare clone, as BitBake's BB_GENERATE_MIRROR_TARBALLS writes.
    let bare = s.tmp.path().join("bare");
    git(s.tmp.path(), &["clone", "-q", "--bare", "--mirror", repo.to_str().unwrap(), bare.to_str().unwrap()]);
    let tarball = s.tmp.path().join("git2_example.invalid.upstream.git.tar.gz");
    let status = Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(&bare).arg(".").status().unwrap();
    assert!(status.success());
    fs::remove_dir_all(&repo).unwrap();
    let mut req = s.request(vec![Source::Git(GitSource {
        url: "git://example.invalid/upstream.git;branch=main;subpath=src".into(),
        revision: first.clone(),
        clone_name: "example.invalid.upstream.git".into(),
        candidates: vec![
            Candidate {
                url: format!("file://{}", repo.display()),
                stage: Stage::Upstream,
                kind: CandidateKind::GitRepository,
            },
            Candidate {
                url: format!("file://{}", tarball.display()),
                stage: Stage::Mirror,
                kind: CandidateKind::GitTarball,
            },
        ],
        subpath: Some("src".into()),
    })]);
    req.policy.no_network = true;
    s.run(&req).0.unwrap();
    let out = git_checkout_dir(&s.fetched(), "example.invalid.upstream.git", &first);
    assert!(out.join("run.sh").is_file());
    assert!(!out.join("README").exists());
}

/// A mirror tarball whose repository replaces the pinned revision (`git replace`): the
/// checkout is the revision's own contents, never the replacement's.
#[test]
fn replace_refs_in_a_mirror_tarball_do_not_change_a_pinned_revision() {
    let s = Setup::new();
    let (repo, first, second) = repository(s.tmp.path());
    let bare = s.tmp.path().join("bare");
    git(s.tmp.path(), &["clone", "-q", "--bare", "--mirror", repo.to_str().unwrap(), bare.to_str().unwrap()]);
    // The hostile mirror: `first` now shows `second`'s files wherever replace refs count.
    git(&bare, &["replace", &first, &second]);
    assert_eq!(git(&bare, &["show", &format!("{first}:README")]), "two");
    let tarball = s.tmp.path().join("git2_example.invalid.upstream.git.tar.gz");
    let status = Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(&bare).arg(".").status().unwrap();
    assert!(status.success());
    let mut req = s.request(vec![Source::Git(GitSource {
        url: "git://example.invalid/upstream.git;branch=main".into(),
        revision: first.clone(),
        clone_name: "example.invalid.upstream.git".into(),
        candidates: vec![Candidate {
            url: format!("file://{}", tarball.display()),
            stage: Stage::Mirror,
            kind: CandidateKind::GitTarball,
        }],
        subpath: None,
    })]);
    req.policy.no_network = true;
    s.run(&req).0.unwrap();
    let out = git_checkout_dir(&s.fetched(), "example.invalid.upstream.git", &first);
    assert_eq!(fs::read_to_string(out.join("README")).unwrap(), "one\n");
    let clone = s.downloads().join("git2/example.invalid.upstream.git");
    assert!(!clone.join("refs/replace").read_dir().is_ok_and(|mut d| d.next().is_some()), "replace refs were kept");
}
