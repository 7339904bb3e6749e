//! `rstore-bench store`: ingest, re-ingest and materialise throughput of the store,
//! beside `b3sum`, `zstd -3 -T2` and `cp -a` on the same data in the same run, and
//! the dedup ratio of two similar trees.
//!
//! The data is generated in a temporary directory and removed afterwards:
//! (a) many small files (a copy of /usr/include when present, plus generated
//! source-like text files of realistic sizes) and (b) one large file. Everything is
//! flushed to disk before timing, and all tools read from the page cache.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rstore_store::{Access, GcOptions, IngestOptions, NoReporter, Store};

use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Size of each data set, in MiB
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Where to put the data and the store (a temporary directory inside it)
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the generated data and store
    #[arg(long)]
    keep: bool,
}

/// Removes the working directory at the end, whatever happens.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = rstore_store::remove_tree_forcibly(&self.path);
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

pub fn run(args: Args) -> anyhow::Result<()> {
    for tool in ["b3sum", "zstd", "cp", "sync"] {
        if Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status()?.code()
            != Some(0)
        {
            bail!("{tool} is needed on PATH for the peer figures");
        }
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = WorkDir { path: base.join(format!("rstore-bench-store-{}", std::process::id())), keep: args.keep };
    fs::create_dir_all(&work.path).with_context(|| format!("creating {}", work.path.display()))?;
    let target = args.size_mib << 20;

    eprintln!(
        "generating {} MiB of small files and one {} MiB file in {}",
        args.size_mib,
        args.size_mib,
        work.path.display()
    );
    let started = Instant::now();
    let small = work.path.join("small");
    let small_bytes = generate_small_tree(&small, target)?;
    let big = work.path.join("big");
    fs::create_dir_all(&big)?;
    let big_bytes = generate_big_file(&big.join("data.bin"), target)?;
    sync()?;
    eprintln!("generated in {:.1}s", started.elapsed().as_secs_f64());

    println!("# store benchmark: {} MiB of small files, one {} MiB file", small_bytes >> 20, big_bytes >> 20);
    let small_files = count_files(&small)?;
    println!("# (a) {small_files} files in the small-file tree");
    let figures_a = bench_one(&work.path, "small files", &small, small_bytes)?;
    let figures_b = bench_one(&work.path, "one large file", &big, big_bytes)?;
    dedup(&work.path, &small)?;

    println!();
    println!("# targets");
    for (name, f) in [("small files", &figures_a), ("one large file", &figures_b)] {
        let slower_peer = f.b3sum.min(f.zstd);
        check(&format!("{name}: cold ingest >= 70% of the slower of b3sum and zstd"), f.cold / slower_peer, 0.7);
        check(&format!("{name}: re-ingest >= 5x faster than cold ingest"), f.reingest / f.cold, 5.0);
        check(&format!("{name}: materialise >= 3x faster than cp -a"), f.materialise_warm / f.cp, 3.0);
    }
    Ok(())
}

fn check(what: &str, ratio: f64, needed: f64) {
    println!("{:<70} {:>7.2} (need {needed:.2}) {}", what, ratio, if ratio >= needed { "ok" } else { "MISSED" });
}

/// Throughputs in MB/s.
struct Figures {
    cold: f64,
    reingest: f64,
    materialise_warm: f64,
    b3sum: f64,
    zstd: f64,
    cp: f64,
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB / d.as_secs_f64().max(1e-9)
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let t = Instant::now();
    let v = f()?;
    Ok((v, t.elapsed()))
}

fn bench_one(work: &Path, label: &str, data: &Path, bytes: u64) -> anyhow::Result<Figures> {
    println!();
    println!("## {label}");
    let files = list_files(data)?;
    // Peers first (they warm the page cache for everyone).
    let (_, b3) = timed(|| xargs(&["b3sum"], &files))?;
    let (_, zs) = timed(|| xargs(&["zstd", "-q", "-3", "-T2", "-c"], &files))?;
    let copy = work.join(format!("cp-{}", label.replace(' ', "-")));
    let (_, cp) = timed(|| {
        let ok = Command::new("cp").arg("-a").arg(data).arg(&copy).status()?.success();
        if !ok {
            bail!("cp -a failed");
        }
        Ok(())
    })?;
    // Nothing is deleted until every timing of this data set is taken: on some
    // filesystems creating files right after mass deletions is slower.
    sync()?;

    let store_dir = work.join(format!("store-{}", label.replace(' ', "-")));
    let store = Store::open(&store_dir)?;
    let options = IngestOptions::default();
    let (cold_out, cold) = timed(|| Ok(store.ingest(data, &options, &NoReporter)?))?;
    let (re_out, re) = timed(|| Ok(store.ingest(data, &options, &NoReporter)?))?;
    assert_eq!(cold_out.root, re_out.root);
    let m1 = work.join(format!("m1-{}", label.replace(' ', "-")));
    let m2 = work.join(format!("m2-{}", label.replace(' ', "-")));
    let (_, mat_cold) = timed(|| Ok(store.materialise(&cold_out.root, &m1, Access::ReadOnly, &NoReporter)?))?;
    let (_, mat_warm) = timed(|| Ok(store.materialise(&cold_out.root, &m2, Access::ReadOnly, &NoReporter)?))?;
    let m3 = work.join(format!("m3-{}", label.replace(' ', "-")));
    let (_, mat_rw) = timed(|| Ok(store.materialise(&cold_out.root, &m3, Access::Writable, &NoReporter)?))?;

    let f = Figures {
        cold: mbps(bytes, cold),
        reingest: mbps(bytes, re),
        materialise_warm: mbps(bytes, mat_warm),
        b3sum: mbps(bytes, b3),
        zstd: mbps(bytes, zs),
        cp: mbps(bytes, cp),
    };
    fn row<'a>(what: &'a str, ours: f64, peer_name: &'a str, peer: f64) -> Row<'a> {
        Row { what, ours, peer_name, peer: Some(peer), unit: "MB/s", higher_is_better: true }
    }
    row("ingest, cold (hash+compress+durable)", f.cold, "b3sum", f.b3sum).print();
    row("ingest, cold (hash+compress+durable)", f.cold, "zstd -3 -T2", f.zstd).print();
    row("re-ingest (everything present)", f.reingest, "b3sum", f.b3sum).print();
    row("re-ingest vs cold ingest", f.reingest, "rstore cold ingest", f.cold).print();
    row("materialise read-only, checkout cached", f.materialise_warm, "cp -a", f.cp).print();
    row("materialise read-only, first (decompress)", mbps(bytes, mat_cold), "cp -a", f.cp).print();
    row("materialise writable (copy, no reflinks)", mbps(bytes, mat_rw), "cp -a", f.cp).print();
    println!(
        "{:<40} {} MiB logical, {} MiB stored ({} new blobs), times: cold {:.2}s, re-ingest {:.2}s, materialise {:.2}s/{:.2}s",
        "",
        bytes >> 20,
        cold_out.stored_bytes >> 20,
        cold_out.new_blobs,
        cold.as_secs_f64(),
        re.as_secs_f64(),
        mat_cold.as_secs_f64(),
        mat_warm.as_secs_f64()
    );
    for m in [&m1, &m2, &m3, &copy] {
        rstore_store::remove_tree_forcibly(m)?;
    }
    store.gc(&GcOptions::default(), &NoReporter)?;
    drop(store);
    rstore_store::remove_tree_forcibly(&store_dir)?;
    Ok(f)
}

/// Two similar trees: B is a writable copy of A with 10% of the files changed.
fn dedup(work: &Path, a: &Path) -> anyhow::Result<()> {
    println!();
    println!("## dedup of two similar trees");
    let store = Store::open(work.join("store-dedup"))?;
    let first = store.ingest(a, &IngestOptions::default(), &NoReporter)?;
    let b = work.join("similar");
    store.materialise(&first.root, &b, Access::Writable, &NoReporter)?;
    let files = list_files(&b)?;
    let mut changed = 0;
    for (i, f) in files.iter().enumerate() {
        if i % 10 == 0 {
            let mut file = fs::OpenOptions::new().append(true).open(f)?;
            writeln!(file, "// changed in the second tree ({i})")?;
            changed += 1;
        }
    }
    let second = store.ingest(&b, &IngestOptions::default(), &NoReporter)?;
    let stats = store.stats()?;
    println!(
        "tree B = tree A with {changed} of {} files changed: B added {} new blobs, {:.1} MiB stored for {:.1} MiB logical",
        files.len(),
        second.new_blobs,
        second.stored_bytes as f64 / MIB,
        second.logical_bytes as f64 / MIB
    );
    println!(
        "store holding A and B: {:.1} MiB logical, {:.1} MiB unique, {:.1} MiB stored; dedup ratio {:.2}, logical/stored {:.2}",
        stats.logical_bytes as f64 / MIB,
        stats.unique_bytes as f64 / MIB,
        stats.stored_bytes as f64 / MIB,
        stats.dedup_ratio,
        stats.total_ratio
    );
    Ok(())
}

fn sync() -> anyhow::Result<()> {
    if !Command::new("sync").status()?.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// Runs `cmd FILES…` in batches (like xargs), output discarded.
fn xargs(cmd: &[&str], files: &[PathBuf]) -> anyhow::Result<()> {
    for chunk in files.chunks(2000) {
        let status = Command::new(cmd[0]).args(&cmd[1..]).args(chunk).stdout(Stdio::null()).status()?;
        if !status.success() {
            bail!("{} failed", cmd.join(" "));
        }
    }
    Ok(())
}

fn list_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn count_files(dir: &Path) -> anyhow::Result<usize> {
    Ok(list_files(dir)?.len())
}

/// xorshift64*: fast, deterministic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Source-like text: identifiers from a fixed vocabulary, punctuation, numbers.
struct TextGen {
    rng: Rng,
    words: Vec<Vec<u8>>,
}

impl TextGen {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let words = (0..4096)
            .map(|_| {
                let len = 2 + (rng.next() % 12) as usize;
                (0..len)
                    .map(|_| {
                        b"abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(rng.next() % 63) as usize]
                    })
                    .collect()
            })
            .collect();
        Self { rng, words }
    }

    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        const SEPS: [&[u8]; 8] = [b" ", b"(", b");\n", b", ", b" = ", b"->", b" {\n    ", b"\n}\n"];
        while out.len() < len {
            let r = self.rng.next();
            out.extend_from_slice(&self.words[(r % 4096) as usize]);
            out.extend_from_slice(SEPS[((r >> 12) % 8) as usize]);
            if (r >> 20).is_multiple_of(16) {
                write!(out, "{}", r >> 40).ok();
            }
        }
        out.truncate(len);
    }
}

/// /usr/include (when present) plus generated files up to `target` bytes.
fn generate_small_tree(dir: &Path, target: u64) -> anyhow::Result<u64> {
    fs::create_dir_all(dir)?;
    let mut total = 0u64;
    if Path::new("/usr/include").is_dir() {
        let ok = Command::new("cp").arg("-a").arg("/usr/include").arg(dir.join("include")).status()?.success();
        if ok {
            total += list_files(&dir.join("include"))?
                .iter()
                .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .sum::<u64>();
        }
    }
    let mut text = TextGen::new(42);
    let mut sizes = Rng(7);
    let mut buf = Vec::new();
    let mut n = 0u64;
    while total < target {
        // Log-uniform sizes between 256 B and 256 KiB (median ≈ 8 KiB), like source trees.
        let exp = 8.0 + (sizes.next() % 10_000) as f64 / 10_000.0 * 10.0;
        let size = (2f64.powf(exp) as u64).min(target - total).max(1) as usize;
        // About twelve files per directory, fifty directories per parent.
        let leaf = n / 12;
        let sub = dir.join(format!("gen/{:03}/{:02}", leaf / 50, leaf % 50));
        if n.is_multiple_of(12) {
            fs::create_dir_all(&sub)?;
        }
        buf.clear();
        writeln!(buf, "/* generated file {n} */")?;
        text.fill(&mut buf, size.max(32));
        let name = sub.join(format!("f{n}.{}", ["c", "h", "txt", "py"][(n % 4) as usize]));
        fs::write(&name, &buf)?;
        total += buf.len() as u64;
        n += 1;
    }
    Ok(total)
}

fn generate_big_file(path: &Path, target: u64) -> anyhow::Result<u64> {
    let mut text = TextGen::new(4242);
    let mut file = std::io::BufWriter::with_capacity(8 << 20, fs::File::create(path)?);
    let mut buf = Vec::with_capacity(4 << 20);
    let mut written = 0u64;
    while written < target {
        buf.clear();
        text.fill(&mut buf, (target - written).min(4 << 20) as usize);
        file.write_all(&buf)?;
        written += buf.len() as u64;
    }
    file.flush()?;
    Ok(written)
}
