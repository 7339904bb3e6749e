//! `rstore-bench cache`: binary caches on loopback servers.
//!
//! - **substitution throughput**: an output of `--size-mib` MiB (incompressible files)
//!   pushed to a directory that nginx serves; rstore fetches it into an empty store
//!   (verifying every object, storing it) vs `curl --parallel` fetching the same object
//!   files from the same server into /dev/null, and vs one request per object in turn
//!   (existence, then the object: how `nix copy` asks a binary cache);
//! - **existence of 10,000 entries**: requests made and time, asked of `rstore cache
//!   serve`'s batch endpoint vs nginx (a HEAD per key, 16 at once) vs one HEAD at a time;
//! - **the demo image** (`--image`, needs the downloads mirror): built from nothing vs
//!   built in another build directory with an empty store from the loopback cache.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rstore_store::cache::http::HttpCache;
use rstore_store::cache::transfer::{Progress, PushItem, Substituters, push};
use rstore_store::cache::{Cache, Key, SecretKey, TrustedKeys, dir::DirCache};
use rstore_store::{Digest, IngestOptions, NoReporter, Outhash, Store, Taskhash, Unihash};

use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Size of the output substituted, in MiB
    #[arg(long, default_value_t = 1024)]
    size_mib: usize,
    /// Files it is made of
    #[arg(long, default_value_t = 256)]
    files: usize,
    /// Entries asked for in the existence measurement
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Also build the demo image from nothing and from the cache (minutes)
    #[arg(long)]
    image: bool,
    /// Downloads mirror for the image build (`scripts/fill-downloads-mirror DIR`)
    #[arg(long, value_name = "DIR", env = "RSTORE_DOWNLOADS_MIRROR")]
    mirror: Option<PathBuf>,
}

struct Nginx {
    child: Child,
    url: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("nothing listens on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// nginx serving `dir/root` (GET, HEAD, WebDAV PUT) at `http://127.0.0.1:PORT`.
fn nginx(dir: &Path) -> anyhow::Result<Nginx> {
    let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("nginx is not installed (Debian: nginx-light; scripts/install-deps installs it)")?;
    let port = free_port()?;
    std::fs::create_dir_all(dir.join("root"))?;
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  sendfile on;\n  \
         keepalive_requests 100000;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         client_max_body_size 0;\n  server {{\n    listen 127.0.0.1:{port};\n    root {d}/root;\n    \
         location / {{ dav_methods PUT; create_full_put_path on; }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    let child = Command::new(program)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    let server = Nginx { child, url: format!("http://127.0.0.1:{port}") };
    wait_listening(port)?;
    Ok(server)
}

/// `size` bytes no compressor shrinks (xorshift), different for each `seed`.
fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.files == 0 {
        bail!("--files must be at least 1");
    }
    let tmp = tempfile::Builder::new().prefix("rstore-bench-cache-").tempdir().context("creating a scratch dir")?;
    let server = nginx(&tmp.path().join("nginx"))?;
    let key = SecretKey::generate("bench-1")?;
    let mut trusted = TrustedKeys::default();
    trusted.add(key.public());
    throughput(&args, tmp.path(), &server, &key, &trusted)?;
    existence(&args, tmp.path(), &server)?;
    if args.image {
        image(&args, tmp.path(), &server, &key)?;
    }
    Ok(())
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1048576.0 / seconds
}

fn throughput(args: &Args, tmp: &Path, server: &Nginx, key: &SecretKey, trusted: &TrustedKeys) -> anyhow::Result<()> {
    let data = tmp.join("data");
    std::fs::create_dir_all(&data)?;
    let size = args.size_mib * 1048576 / args.files;
    for i in 0..args.files {
        std::fs::write(data.join(format!("file-{i:05}")), noise(size, i as u64 + 1))?;
    }
    let store = Store::open(tmp.join("store-a"))?;
    let ingested = store.ingest(&data, &IngestOptions::default(), &NoReporter)?;
    std::fs::remove_dir_all(&data)?;
    let root = ingested.root;
    let taskhash = Taskhash::from_digest(Digest::of_bytes(b"bench:do_install"));
    let unihash = store.report("bench:do_install", &taskhash, &Outhash::of_tree(root))?;
    store.commit_tree(&root)?;
    store.put_entry(
        &unihash,
        rstore_store::Entry { root, log: None, duration_ms: 0, host_fingerprint: None, signatures: vec![] },
    )?;
    let cache_dir = tmp.join("nginx/root/cache");
    push(
        &store,
        &DirCache::new(&cache_dir),
        &[PushItem { unihash, taskhashes: vec![taskhash] }],
        Some(key),
        &Progress::default(),
    )?;
    let url = format!("{}/cache", server.url);
    let objects: Vec<PathBuf> = walk(&cache_dir.join("objects"));
    let bytes: u64 = objects.iter().map(|p| p.metadata().map(|m| m.len()).unwrap_or(0)).sum();
    println!(
        "substitution: one output of {} files, {:.0} MiB in {} objects, served by nginx on loopback",
        args.files,
        bytes as f64 / 1048576.0,
        objects.len()
    );

    // rstore: into an empty store, every object verified and stored.
    let target = tmp.join("store-b");
    let b = Store::open(&target)?;
    let subs = Substituters::new(vec![Box::new(HttpCache::new(&url, None)?)], trusted.clone());
    let started = Instant::now();
    let found = subs.entries(&[("bench:do_install".to_owned(), unihash)]);
    let found: Vec<_> = found.into_iter().flatten().collect();
    if found.len() != 1 {
        bail!("the pushed entry is not found through nginx");
    }
    for r in subs.fetch(&b, &found, &Progress::default()) {
        r?;
    }
    let ours = started.elapsed().as_secs_f64();
    drop(b);
    std::fs::remove_dir_all(&target)?;

    // curl: the same object files, 16 transfers at once, to /dev/null.
    let config = tmp.join("curl.conf");
    // curl fetching every object file, 16 at once, each into `output(i)`; its start.
    let curl_into = |output: &dyn Fn(usize) -> String| -> anyhow::Result<(bool, Instant)> {
        let mut text = String::new();
        for (i, p) in objects.iter().enumerate() {
            let rel = p.strip_prefix(&cache_dir)?.display().to_string();
            text.push_str(&format!("url = \"{url}/{rel}\"\noutput = \"{}\"\n", output(i)));
        }
        std::fs::write(&config, text)?;
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-s", "-S", "-f", "--no-progress-meter", "--parallel", "--parallel-max", "16", "-K"])
            .arg(&config)
            .status()
            .context("running curl")?;
        Ok((status.success(), started))
    };
    let (ok, started) = curl_into(&|_| "/dev/null".to_owned())?;
    let curl = ok.then(|| started.elapsed().as_secs_f64());

    // curl again, into files on the same disk, made durable (what a store must do).
    let files = tmp.join("curl-files");
    std::fs::create_dir_all(&files)?;
    let (ok, started) = curl_into(&|i| format!("{}/{i}", files.display()))?;
    let synced = Command::new("sync").arg("-f").arg(&files).status()?.success();
    let curl_disk = (ok && synced).then(|| started.elapsed().as_secs_f64());
    std::fs::remove_dir_all(&files)?;

    // One request per object in turn: existence, then the object.
    let one = HttpCache::new(&url, None)?;
    let keys: Vec<Key> = objects
        .iter()
        .filter_map(|p| Key::from_path(&p.strip_prefix(&cache_dir).ok()?.display().to_string()))
        .collect();
    let started = Instant::now();
    for k in &keys {
        if one.contains(std::slice::from_ref(k))?.first() == Some(&true) {
            one.get(k)?;
        }
    }
    let sequential = started.elapsed().as_secs_f64();
    let (o, c, s) = (mib_per_s(bytes, ours), curl.map(|t| mib_per_s(bytes, t)), mib_per_s(bytes, sequential));
    Row {
        what: "substitute (verify + store)",
        ours: o,
        peer_name: "curl -Z 16 to files+sync",
        peer: curl_disk.map(|t| mib_per_s(bytes, t)),
        unit: "MiB/s",
        higher_is_better: true,
    }
    .print();
    Row {
        what: "substitute (verify + store)",
        ours: o,
        peer_name: "curl --parallel 16",
        peer: c,
        unit: "MiB/s",
        higher_is_better: true,
    }
    .print();
    Row {
        what: "substitute (verify + store)",
        ours: o,
        peer_name: "one request per object",
        peer: Some(s),
        unit: "MiB/s",
        higher_is_better: true,
    }
    .print();
    // The goal is against curl doing the same work: the bytes stored in files, durably.
    if let Some(disk) = curl_disk.map(|t| mib_per_s(bytes, t)) {
        println!("  rstore reaches {:.0}% of curl storing the same bytes durably (goal: 80%)", 100.0 * o / disk);
    }
    if let Some(c) = c {
        println!("  and {:.0}% of curl throwing them away", 100.0 * o / c);
    }
    Ok(())
}

fn existence(args: &Args, tmp: &Path, server: &Nginx) -> anyhow::Result<()> {
    let keys: Vec<Key> = (0..args.entries)
        .map(|i| Key::Entry(Unihash::from_digest(Digest::of_bytes(format!("entry {i}").as_bytes()))))
        .collect();
    let store: &'static Store = Box::leak(Box::new(Store::open(tmp.join("store-a"))?));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let serve_url = format!("http://{}", listener.local_addr()?);
    let local: Arc<dyn Cache> = Arc::new(rstore_store::cache::local::LocalCache { store, url: "bench".into() });
    std::thread::spawn(move || {
        rstore_store::cache::serve::serve(
            listener,
            local,
            rstore_store::cache::serve::ServeOptions { key: None, push_token: None },
        )
    });
    let time = |cache: &HttpCache| -> anyhow::Result<f64> {
        let started = Instant::now();
        let answers = cache.contains(&keys)?;
        if answers.iter().any(|a| *a) {
            bail!("an absent entry was reported present");
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let batched = HttpCache::new(&serve_url, None)?;
    batched.contains(&keys[..1])?; // learns that the server batches
    let ours = time(&batched)?;
    let heads = time(&HttpCache::new(&format!("{}/cache", server.url), None)?)?;
    let one = HttpCache::new(&format!("{}/cache", server.url), None)?;
    let started = Instant::now();
    for k in &keys {
        one.contains(std::slice::from_ref(k))?;
    }
    let sequential = started.elapsed().as_secs_f64();
    let requests = args.entries.div_ceil(8192);
    println!(
        "existence of {} entries: rstore cache serve answers in {requests} requests; nginx needs {} HEADs",
        args.entries, args.entries
    );
    Row {
        what: "existence, batched",
        ours,
        peer_name: "nginx, 16 HEADs at once",
        peer: Some(heads),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "existence, batched",
        ours,
        peer_name: "one HEAD at a time",
        peer: Some(sequential),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Ok(())
}

fn image(args: &Args, tmp: &Path, server: &Nginx, key: &SecretKey) -> anyhow::Result<()> {
    let mirror =
        args.mirror.as_ref().context("--image needs the downloads mirror (--mirror or RSTORE_DOWNLOADS_MIRROR)")?;
    let rstore = crate::parse::rstore_binary()?;
    let key_file = tmp.join("bench-1.secret");
    std::fs::write(&key_file, key.to_text())?;
    let url = format!("{}/image-cache", server.url);
    let init = |name: &str| -> anyhow::Result<PathBuf> {
        let dir = tmp.join(name);
        let layers = std::env::var_os("RSTORE_LAYERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../layers"));
        let ok = Command::new(&rstore)
            .arg("init")
            .arg(&dir)
            .env("RSTORE_LAYERS_DIR", layers)
            .stdout(Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("rstore init {} failed", dir.display());
        }
        let conf = dir.join("conf/local.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&format!("SOURCE_MIRROR_URL = \"file://{}\"\nBB_NO_NETWORK = \"1\"\n", mirror.display()));
        std::fs::write(&conf, text)?;
        Ok(dir)
    };
    let build = |dir: &Path| -> anyhow::Result<f64> {
        let started = Instant::now();
        let ok =
            Command::new(&rstore).arg("-C").arg(dir).args(["-q", "build", "rstore-image-minimal"]).status()?.success();
        if !ok {
            bail!("building the image in {} failed", dir.display());
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let a = init("image-a")?;
    let cold = build(&a)?;
    let pushed = Command::new(&rstore)
        .arg("-C")
        .arg(&a)
        .args(["-q", "cache", "push", &url, "rstore-image-minimal", "--key"])
        .arg(&key_file)
        .status()?;
    if !pushed.success() {
        bail!("pushing the image failed");
    }
    let b = init("image-b")?;
    let conf = b.join("conf/local.conf");
    let mut text = std::fs::read_to_string(&conf)?;
    text.push_str(&format!("RSTORE_SUBSTITUTERS = \"{url}\"\nRSTORE_TRUSTED_KEYS = \"{}\"\n", key.public().to_text()));
    std::fs::write(&conf, text)?;
    let warm = build(&b)?;
    Row {
        what: "demo image from the loopback cache",
        ours: warm,
        peer_name: "built from nothing",
        peer: Some(cold),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    println!("  goal: at least 20x faster from the cache");
    Ok(())
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
