//! `rstore-bench fetch`: download and unpack throughput of the fetch built-ins.
//!
//! - **download**: a file served over loopback by a small HTTP server in this process,
//!   fetched with rstore's downloader (which hashes sha256 and md5 as bytes arrive) vs
//!   `curl -o` followed by `sha256sum` (what a wget-based fetcher then has to do);
//! - **unpack**: a real source tree (the host's `/usr/include`, or `--tree`) packed as
//!   `.tar.gz` and `.tar.xz` by the host's `tar`, extracted by rstore's extractor vs
//!   GNU `tar -x --no-same-owner` (BitBake's command), each into a fresh directory.
//!
//! Runs are interleaved (which side goes first alternates, each starts after `sync`)
//! and the median is reported.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rstore_evaluator::builtin::fetch::{HttpSettings, Reporter, http};
use rstore_evaluator::builtin::unpack::archive::{self, Compression, Format};

use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Size of the downloaded file in MiB
    #[arg(long, default_value_t = 256)]
    size_mib: usize,
    /// Directory packed for the unpack benchmark
    #[arg(long, default_value = "/usr/include")]
    tree: PathBuf,
    /// Iterations of each variant (interleaved)
    #[arg(long, default_value_t = 5)]
    iterations: usize,
}

struct Quiet;
impl Reporter for Quiet {
    fn message(&mut self, _: &str) {}
    fn progress(&mut self, _: &str, _: u64, _: Option<u64>) {}
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let tmp = tempfile::Builder::new().prefix("rstore-bench-fetch-").tempdir().context("creating a scratch dir")?;
    download(&args, tmp.path())?;
    unpack(&args, tmp.path())
}

/// Serve `body` to every connection (at most `count`) on a loopback port.
fn serve(body: Vec<u8>, count: usize) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/file.bin", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut s) = stream else { continue };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).map(|n| n == 1).unwrap_or(false) {
                head.push(b[0]);
            }
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(&body);
        }
    });
    Ok(url)
}

fn download(args: &Args, tmp: &Path) -> anyhow::Result<()> {
    let curl = which("curl");
    let body: Vec<u8> = (0..args.size_mib << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let url = serve(body, 2 * args.iterations + 2)?;
    let settings = HttpSettings::default();
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for i in 0..args.iterations {
        let out = tmp.join(format!("ours-{i}"));
        let mut f = std::fs::File::create(&out)?;
        let t = Instant::now();
        http::download(&url, &mut f, &settings, &mut Quiet).map_err(|e| anyhow::anyhow!("{e}"))?;
        ours.push(t.elapsed());
        std::fs::remove_file(&out)?;
        if let Some(curl) = &curl {
            let out = tmp.join(format!("curl-{i}"));
            let t = Instant::now();
            let ok = Command::new(curl).arg("-sS").arg("-o").arg(&out).arg(&url).status()?.success()
                && Command::new("sha256sum").arg(&out).stdout(Stdio::null()).status()?.success();
            if !ok {
                bail!("curl or sha256sum failed");
            }
            peer.push(t.elapsed());
            std::fs::remove_file(&out)?;
        }
    }
    let mib = args.size_mib as f64;
    Row {
        what: "download over loopback + sha256 (MiB/s)",
        ours: mib / median(ours),
        peer_name: "curl -o; sha256sum",
        peer: (!peer.is_empty()).then(|| mib / median(peer)),
        unit: "MiB/s",
        higher_is_better: true,
    }
    .print();
    Ok(())
}

fn unpack(args: &Args, tmp: &Path) -> anyhow::Result<()> {
    if !args.tree.is_dir() {
        bail!("{} is not a directory (give --tree)", args.tree.display());
    }
    let parent = args.tree.parent().unwrap_or(Path::new("/"));
    let name = args.tree.file_name().context("--tree has no name")?;
    for (ext, flag, c) in [("tar.gz", "-z", Compression::Gzip), ("tar.xz", "-J", Compression::Xz)] {
        let tarball = tmp.join(format!("tree.{ext}"));
        let status =
            Command::new("tar").arg("-c").arg(flag).arg("-f").arg(&tarball).arg("-C").arg(parent).arg(name).status()?;
        if !status.success() {
            bail!("packing {} failed", args.tree.display());
        }
        let (mut ours, mut peer) = (Vec::new(), Vec::new());
        for i in 0..args.iterations {
            // Which goes first alternates, every extraction starts after `sync`, and
            // the trees stay until the round ends: deleting thousands of files just
            // before the next extraction slows ext4's inode allocation for whoever
            // comes next, which would otherwise always be the same side.
            for ours_turn in if i % 2 == 0 { [true, false] } else { [false, true] } {
                let dest = tmp.join(format!("{}-{ext}-{i}", if ours_turn { "ours" } else { "tar" }));
                std::fs::create_dir(&dest)?;
                sync()?;
                let t = Instant::now();
                if ours_turn {
                    archive::extract(&tarball, Format::Tar(c), &dest, 0)?;
                    ours.push(t.elapsed());
                } else {
                    let status = Command::new("tar")
                        .args(["-x", "--no-same-owner", flag, "-f"])
                        .arg(&tarball)
                        .arg("-C")
                        .arg(&dest)
                        .status()?;
                    peer.push(t.elapsed());
                    if !status.success() {
                        bail!("tar -x failed");
                    }
                }
            }
        }
        for i in 0..args.iterations {
            for side in ["ours", "tar"] {
                std::fs::remove_dir_all(tmp.join(format!("{side}-{ext}-{i}")))?;
            }
        }
        let what = format!("unpack {} as {ext} (s)", args.tree.display());
        Row {
            what: &what,
            ours: median(ours),
            peer_name: "tar -x --no-same-owner",
            peer: Some(median(peer)),
            unit: "s",
            higher_is_better: false,
        }
        .print();
    }
    Ok(())
}

/// Write back everything dirty, so that one extraction's writeback is not charged
/// to the next.
fn sync() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}
