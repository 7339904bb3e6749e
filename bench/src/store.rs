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
use rstore_store::{Access, IngestOptions, NoReporter, Phase, Reporter, Store};

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
    /// Run every measurement this many times and report the best
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    repeat: u64,
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
    let repeat = args.repeat as usize;
    let figures_a = bench_one(&work.path, "small files", &small, small_bytes, repeat)?;
    let figures_b = bench_one(&work.path, "one large file", &big, big_bytes, repeat)?;
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

fn bench_one(work: &Path, label: &str, data: &Path, bytes: u64, repeat: usize) -> anyhow::Result<Figures> {
    println!();
    println!("## {label} (best of {repeat})");
    let files = list_files(data)?;
    let tag = label.replace(' ', "-");
    let mut scratch: Vec<PathBuf> = Vec::new();
    let mut best = Best::default();
    let options = IngestOptions::default();
    let mut root = None;
    let mut outcome = None;
    let mut phases_text = String::new();
    // Rounds interleave the peers and rstore so that both see the same machine.
    // Nothing is deleted until every timing is taken: on some filesystems creating
    // files right after mass deletions is slower.
    for round in 0..repeat {
        best.b3sum.push(timed(|| xargs(&["b3sum"], &files))?.1);
        best.zstd.push(timed(|| xargs(&["zstd", "-q", "-3", "-T2", "-c"], &files))?.1);
        let copy = work.join(format!("cp-{tag}-{round}"));
        best.cp.push(
            timed(|| {
                if !Command::new("cp").arg("-a").arg(data).arg(&copy).status()?.success() {
                    bail!("cp -a failed");
                }
                Ok(())
            })?
            .1,
        );
        scratch.push(copy);
        sync()?;

        let store_dir = work.join(format!("store-{tag}-{round}"));
        scratch.push(store_dir.clone());
        let store = Store::open(&store_dir)?;
        let phases = PhaseTimer::default();
        let (cold_out, cold) = timed(|| Ok(store.ingest(data, &options, &phases)?))?;
        if best.cold.iter().all(|t| cold < *t) {
            phases_text = phases.summary();
        }
        best.cold.push(cold);
        let (re_out, re) = timed(|| Ok(store.ingest(data, &options, &NoReporter)?))?;
        best.reingest.push(re);
        if cold_out.root != re_out.root || root.is_some_and(|r| r != cold_out.root) {
            bail!("ingesting the same data gave different roots");
        }
        root = Some(cold_out.root);
        outcome = Some(cold_out);
        let dest = |what: &str| work.join(format!("{what}-{tag}-{round}"));
        let (m_cold, m_warm, m_rw) = (dest("mcold"), dest("mwarm"), dest("mrw"));
        best.mat_cold.push(timed(|| Ok(store.materialise(&cold_out.root, &m_cold, Access::ReadOnly, &NoReporter)?))?.1);
        best.mat_warm.push(timed(|| Ok(store.materialise(&cold_out.root, &m_warm, Access::ReadOnly, &NoReporter)?))?.1);
        best.mat_rw.push(timed(|| Ok(store.materialise(&cold_out.root, &m_rw, Access::Writable, &NoReporter)?))?.1);
        scratch.extend([m_cold, m_warm, m_rw]);
    }

    let rate = |times: &[Duration]| mbps(bytes, times.iter().copied().min().unwrap_or_default());
    let f = Figures {
        cold: rate(&best.cold),
        reingest: rate(&best.reingest),
        materialise_warm: rate(&best.mat_warm),
        b3sum: rate(&best.b3sum),
        zstd: rate(&best.zstd),
        cp: rate(&best.cp),
    };
    fn row<'a>(what: &'a str, ours: f64, peer_name: &'a str, peer: f64) -> Row<'a> {
        Row { what, ours, peer_name, peer: Some(peer), unit: "MB/s", higher_is_better: true }
    }
    row("ingest, cold (hash+compress+durable)", f.cold, "b3sum", f.b3sum).print();
    row("ingest, cold (hash+compress+durable)", f.cold, "zstd -3 -T2", f.zstd).print();
    row("re-ingest (everything present)", f.reingest, "b3sum", f.b3sum).print();
    row("re-ingest vs cold ingest", f.reingest, "rstore cold ingest", f.cold).print();
    row("materialise read-only, checkout cached", f.materialise_warm, "cp -a", f.cp).print();
    row("materialise read-only, first (decompress)", rate(&best.mat_cold), "cp -a", f.cp).print();
    row("materialise writable (copy, no reflinks)", rate(&best.mat_rw), "cp -a", f.cp).print();
    if let Some(o) = outcome {
        println!(
            "{:<40} {} MiB logical, {} MiB stored ({} new blobs); fastest cold ingest: {phases_text}",
            "",
            bytes >> 20,
            o.stored_bytes >> 20,
            o.new_blobs
        );
    }
    println!("{:<40} all times (s): {}", "", best.describe());
    for path in &scratch {
        rstore_store::remove_tree_forcibly(path)?;
    }
    Ok(f)
}

/// Every timing of a data set, for best-of-N figures.
#[derive(Default)]
struct Best {
    b3sum: Vec<Duration>,
    zstd: Vec<Duration>,
    cp: Vec<Duration>,
    cold: Vec<Duration>,
    reingest: Vec<Duration>,
    mat_cold: Vec<Duration>,
    mat_warm: Vec<Duration>,
    mat_rw: Vec<Duration>,
}

impl Best {
    fn describe(&self) -> String {
        let list = |v: &[Duration]| v.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join("/");
        format!(
            "b3sum {}, zstd {}, cp -a {}, cold {}, re-ingest {}, materialise cold {}, warm {}, writable {}",
            list(&self.b3sum),
            list(&self.zstd),
            list(&self.cp),
            list(&self.cold),
            list(&self.reingest),
            list(&self.mat_cold),
            list(&self.mat_warm),
            list(&self.mat_rw)
        )
    }
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

/// Records how long each phase of an operation took.
#[derive(Default)]
struct PhaseTimer {
    current: std::sync::Mutex<Option<Instant>>,
    done: std::sync::Mutex<Vec<(Phase, Duration)>>,
}

impl PhaseTimer {
    fn summary(&self) -> String {
        let done = self.done.lock().map(|d| d.clone()).unwrap_or_default();
        done.iter().map(|(p, d)| format!("{p:?} {:.2}s", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
    }
}

impl Reporter for PhaseTimer {
    fn start(&self, _phase: Phase, _total: Option<u64>) {
        if let Ok(mut c) = self.current.lock() {
            *c = Some(Instant::now());
        }
    }

    fn finish(&self, phase: Phase) {
        let started = self.current.lock().ok().and_then(|mut c| c.take());
        if let (Some(t), Ok(mut done)) = (started, self.done.lock()) {
            done.push((phase, t.elapsed()));
        }
    }
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
