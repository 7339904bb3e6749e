//! End-to-end tests of binary caches with real servers started on loopback: nginx
//! (Debian's, WebDAV PUT) and `rstore cache serve`.
//!
//! One build directory builds the demo image and pushes it; fresh build directories
//! (empty stores) substitute it and run nothing, and get a byte-identical image; a
//! corrupted object is refused and the task that needed it is built instead; a comment
//! proved equivalent by another machine rebuilds nothing. Building the image needs the
//! upstream tarballs of `RSTORE_DOWNLOADS_MIRROR` (scripts/test fills one); without it
//! `hello` stands in for the image, and the test says so.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn rstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RUST_LOG")
        .env_remove("RSTORE_LAYERS_DIR")
        .env_remove("RSTORE_STORE")
        .env_remove("RSTORE_SUBSTITUTERS")
        .env_remove("RSTORE_TRUSTED_KEYS")
        .env_remove("RSTORE_SIGNING_KEY")
        .env_remove("RSTORE_CACHE_TOKEN");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.code().is_some(), "{what}: killed by a signal\n{stderr}");
    assert!(!stderr.contains("panicked at"), "{what}: panicked\n{stderr}");
    out
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = run(cmd, what);
    assert!(out.status.success(), "{what} failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

struct BuildDir {
    dir: PathBuf,
}

impl BuildDir {
    fn new(parent: &Path, name: &str) -> BuildDir {
        let dir = parent.join(name);
        ok(rstore().arg("init").arg(&dir), "rstore init");
        let b = BuildDir { dir };
        if let Some(m) = mirror() {
            b.local_conf(&format!("SOURCE_MIRROR_URL = \"file://{}\"", m.display()));
            b.local_conf("BB_NO_NETWORK = \"1\"");
        }
        b
    }

    fn local_conf(&self, line: &str) {
        let path = self.dir.join("conf/local.conf");
        let mut conf = std::fs::read_to_string(&path).unwrap();
        conf.push_str(line);
        conf.push('\n');
        std::fs::write(&path, conf).unwrap();
    }

    fn substitute_from(&self, url: &str, public_key: &str) {
        self.local_conf(&format!("RSTORE_SUBSTITUTERS = \"{url}\""));
        self.local_conf(&format!("RSTORE_TRUSTED_KEYS = \"{public_key}\""));
    }

    fn command(&self) -> Command {
        let mut cmd = rstore();
        cmd.arg("-C").arg(&self.dir);
        cmd
    }

    /// `rstore build --json TARGET`: the summary, and the resolution of every task.
    fn build(&self, target: &str) -> (Value, BTreeMap<String, String>, String) {
        let out = run(self.command().args(["build", "--json", target]), "rstore build");
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "rstore build {target} failed:\n{stdout}\n{stderr}");
        let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let tasks = events
            .iter()
            .filter(|e| e["event"] == "task")
            .map(|e| (e["task"].as_str().unwrap().to_owned(), e["resolution"].as_str().unwrap().to_owned()))
            .collect();
        (events.last().unwrap().clone(), tasks, stderr)
    }

    fn push(&self, url: &str, target: &str, key: &Path) -> Value {
        let stdout =
            ok(self.command().args(["cache", "push", "--json", url, target, "--key"]).arg(key), "rstore cache push");
        serde_json::from_str(stdout.trim()).unwrap()
    }

    /// Every file under tmp/deploy/images: its bytes.
    fn images(&self) -> BTreeMap<String, Vec<u8>> {
        let root = self.dir.join("tmp/deploy/images");
        let mut out = BTreeMap::new();
        for entry in walk(&root) {
            out.insert(entry.strip_prefix(&root).unwrap().display().to_string(), std::fs::read(&entry).unwrap());
        }
        out
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files.sort();
    files
}

fn mirror() -> Option<PathBuf> {
    std::env::var_os("RSTORE_DOWNLOADS_MIRROR").filter(|m| !m.is_empty()).map(PathBuf::from)
}

/// The demo image, or hello without a downloads mirror.
fn target() -> &'static str {
    if mirror().is_some() {
        "rstore-image-minimal"
    } else {
        eprintln!(
            "SKIPPED: the demo image part of the cache tests (RSTORE_DOWNLOADS_MIRROR is not set; scripts/test \
             sets it): hello stands in for it"
        );
        "hello"
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what} is not listening on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx serving `root` with WebDAV PUT, as a cache at `http://127.0.0.1:PORT/cache`.
fn nginx(dir: &Path) -> Server {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().map(PathBuf::from).find(|p| p.exists());
    let nginx = nginx.expect("nginx is not installed: scripts/install-deps installs Debian's nginx-light");
    let port = free_port();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         client_max_body_size 0;\n  server {{\n    listen 127.0.0.1:{port};\n    root {};\n    \
         location / {{ dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }}\n  }}\n}}\n",
        root.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child, "nginx");
    Server { child, url: format!("http://127.0.0.1:{port}/cache") }
}

/// `rstore cache serve` of `store`, signing with `key`.
fn rstore_serve(store: &Path, key: &Path) -> Server {
    let port = free_port();
    let mut child = rstore()
        .arg("--store")
        .arg(store)
        .args(["cache", "serve", "--listen", &format!("127.0.0.1:{port}"), "--key"])
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child, "rstore cache serve");
    Server { child, url: format!("http://127.0.0.1:{port}") }
}

/// buildbox-casd serving a CAS and ActionCache in `dir`.
fn buildbox_casd(program: &Path, dir: &Path) -> Server {
    let port = free_port();
    let mut child = Command::new(program)
        .arg(format!("--bind=127.0.0.1:{port}"))
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    wait_listening(port, &mut child, "buildbox-casd");
    Server { child, url: format!("grpc://127.0.0.1:{port}") }
}

fn generate_key(dir: &Path, name: &str) -> (PathBuf, String) {
    ok(rstore().args(["key", "generate", name, "--out"]).arg(dir), "rstore key generate");
    let public = std::fs::read_to_string(dir.join(format!("{name}.public"))).unwrap();
    (dir.join(format!("{name}.secret")), public.trim().to_owned())
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key].as_u64().unwrap_or_else(|| panic!("summary without {key}: {summary}"))
}

#[test]
fn the_demo_image_comes_from_nginx_and_rstore_serve_byte_identical() {
    let tmp = tempfile::Builder::new().prefix("rstore-cache-e2e-").tempdir().unwrap();
    let target = target();
    let (secret, public) = generate_key(tmp.path(), "test-cache-1");
    let a = BuildDir::new(tmp.path(), "a");
    let (built, _, _) = a.build(target);
    assert!(count(&built, "run") > 0, "{built}");
    let images = a.images();
    if target != "hello" {
        assert!(images.keys().any(|k| k.ends_with(".tar.zst")), "no image was deployed: {:?}", images.keys());
    }

    // Push to nginx; a second push writes nothing (everything is there).
    let server = nginx(&tmp.path().join("nginx"));
    let pushed = a.push(&server.url, target, &secret);
    let entries = pushed["report"]["entries"].as_u64().unwrap();
    assert!(entries > 0, "{pushed}");
    let again = a.push(&server.url, target, &secret);
    assert_eq!(again["report"]["entries"], 0, "{again}");
    assert_eq!(again["report"]["objects"], 0, "{again}");
    assert_eq!(again["report"]["entries_present"].as_u64(), Some(entries), "{again}");

    // A fresh build directory with an empty store: nothing runs, the image is identical.
    let b = BuildDir::new(tmp.path(), "b");
    b.substitute_from(&server.url, &public);
    let (summary, tasks, _) = b.build(target);
    assert_eq!((count(&summary, "run"), count(&summary, "local")), (0, 0), "{summary}");
    assert!(count(&summary, "substituted") >= 1, "{summary}");
    assert!(tasks.values().all(|r| r == "substituted"), "{tasks:?}");
    assert!(b.images() == images, "the substituted image differs from the built one");

    // The cache checks out: as a directory (every record), and over HTTP (the
    // target's records).
    let root = tmp.path().join("nginx/root/cache");
    let trusted = format!("--trusted-key={public}");
    let verified = ok(rstore().args(["cache", "verify", "--json"]).arg(&root).arg(&trusted), "rstore cache verify");
    let verified: Value = serde_json::from_str(verified.trim()).unwrap();
    assert_eq!(verified["report"]["problems"], Value::Array(vec![]), "{verified}");
    assert_eq!(verified["report"]["entries"].as_u64(), Some(entries), "{verified}");
    let listed = run(rstore().args(["cache", "verify", &server.url]), "rstore cache verify URL");
    assert!(!listed.status.success());
    assert!(text(&listed.stderr).contains("name the targets"), "{}", text(&listed.stderr));
    ok(a.command().args(["cache", "verify", &server.url, target, &trusted]), "rstore cache verify URL TARGET");

    // Signed by a key the build does not trust: nothing is substituted (dry run).
    let (_, stranger) = generate_key(tmp.path(), "stranger-1");
    let c = BuildDir::new(tmp.path(), "c");
    c.substitute_from(&server.url, &stranger);
    let out = run(c.command().args(["build", "-n", "--json", target]), "rstore build -n");
    let dry: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(dry["would_substitute"], Value::Array(vec![]), "{dry}");
    assert!(text(&out.stderr).contains("no signature by a trusted key"), "{}", text(&out.stderr));

    // `rstore cache serve` of A's store, signing on the fly.
    let serve = rstore_serve(&a.dir.join("store"), &secret);
    let d = BuildDir::new(tmp.path(), "d");
    d.substitute_from(&serve.url, &public);
    let (summary, _, _) = d.build(target);
    assert_eq!((count(&summary, "run"), count(&summary, "local")), (0, 0), "{summary}");
    assert!(d.images() == images, "the image served by rstore differs");

    // The same round trip through a REAPI server's CAS and ActionCache (buildbox-casd).
    match std::env::var_os("RSTORE_BUILDBOX_CASD").filter(|p| !p.is_empty()) {
        None => eprintln!("SKIPPED: the REAPI round trip (RSTORE_BUILDBOX_CASD is not set; scripts/test sets it)"),
        Some(program) => {
            let casd = buildbox_casd(Path::new(&program), &tmp.path().join("casd"));
            let pushed = a.push(&casd.url, target, &secret);
            assert_eq!(pushed["report"]["entries"].as_u64(), Some(entries), "{pushed}");
            let f = BuildDir::new(tmp.path(), "f");
            f.substitute_from(&casd.url, &public);
            let (summary, _, _) = f.build(target);
            assert_eq!((count(&summary, "run"), count(&summary, "local")), (0, 0), "{summary}");
            assert!(f.images() == images, "the image from buildbox-casd differs");
        }
    }

    // A corrupted object in the cache: it is refused, and the task is built instead
    // from what the cache holds below it; the image is still identical.
    if let Some((name, bytes)) = images.iter().find(|(k, _)| k.ends_with(".tar.zst")) {
        let hex = blake3::hash(bytes).to_hex().to_string();
        let object = root.join(format!("objects/blobs/{}/{hex}", &hex[..2]));
        assert!(object.is_file(), "the image's blob is not at {}", object.display());
        std::fs::remove_file(&object).unwrap();
        std::fs::write(&object, zstd::bulk::compress(b"not the image", 3).unwrap()).unwrap();
        let e = BuildDir::new(tmp.path(), "e");
        e.substitute_from(&server.url, &public);
        let (summary, _, stderr) = e.build(target);
        assert!(count(&summary, "run") >= 1, "{summary}");
        assert!(count(&summary, "substituted") >= 1, "{summary}");
        assert!(stderr.contains("contents hash to"), "the refusal is not reported:\n{stderr}");
        assert!(e.images() == images, "{name} differs after building around a corrupt object");
        let report = ok(e.command().args(["store", "verify", "--json"]), "rstore store verify");
        let report: Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["problems"], Value::Array(vec![]), "{report}");
    }
}

#[test]
fn a_change_proved_equivalent_elsewhere_rebuilds_nothing() {
    let tmp = tempfile::Builder::new().prefix("rstore-cache-e2e-").tempdir().unwrap();
    let layer = tmp.path().join("meta-build-test");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layers/meta-build-test"), &layer);
    let (secret, public) = generate_key(tmp.path(), "test-cache-1");
    let cache = format!("file://{}", tmp.path().join("cache").display());
    let a = BuildDir::new(tmp.path(), "a");
    let add_layer = |b: &BuildDir| {
        let path = b.dir.join("conf/bblayers.conf");
        let conf = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{conf}BBLAYERS += \"{}\"\n", layer.display())).unwrap();
    };
    add_layer(&a);
    a.build("chain-b");
    a.push(&cache, "chain-b", &secret);

    // A comment in chain-a's do_compile: on A it runs again, its output is the same,
    // the rest is cut off; the push carries the new taskhash's equivalence.
    let recipe = layer.join("recipes-test/chain/chain-a_1.0.bb");
    let original = std::fs::read_to_string(&recipe).unwrap();
    let anchor = "\tcat ${S}/chain-a.txt > value.txt\n";
    assert!(original.contains(anchor), "chain-a_1.0.bb changed: update this test");
    std::fs::write(&recipe, original.replace(anchor, &format!("\t# Only a comment.\n{anchor}"))).unwrap();
    let (summary, _, _) = a.build("chain-b");
    assert_eq!(count(&summary, "run"), 1, "{summary}");
    let pushed = a.push(&cache, "chain-b", &secret);
    assert!(pushed["report"]["equivalences"].as_u64().unwrap() >= 1, "{pushed}");

    // B has never built anything: with A's cache it runs nothing at all.
    let b = BuildDir::new(tmp.path(), "b");
    add_layer(&b);
    b.substitute_from(&cache, &public);
    let (summary, _, _) = b.build("chain-b");
    assert_eq!(count(&summary, "run"), 0, "{summary}");
    assert!(count(&summary, "substituted") >= 1, "{summary}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
