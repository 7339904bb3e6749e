//! openembedded-core build benchmark: the native bootstrap (`xz-native zlib-native
//! flex-native` and their closure, as `tests/oe_build.rs` builds it) from nothing but
//! the downloads, built by `rstore build` (running the layers' own tasks with the
//! BitBake checkout) and by BitBake in the same run, on the same layers, configuration
//! and downloads:
//!
//! - wall time and peak memory from nothing (peak memory: the largest sum of the
//!   proportional set sizes of every process of the build, BitBake's server, its
//!   workers, the hash server and every task included; see `memory.rs`);
//! - a no-op rebuild (BitBake's second: its first call after a build from nothing parses
//!   every recipe again, as its server of the build did not leave a parse cache);
//! - the rebuild after a one-line change to a class every autotools recipe of the
//!   closure inherits: a comment added inside `autotools_do_install`, through a copy of
//!   `autotools.bbclass` in a layer of the bench's own that comes first in `BBPATH`.
//!   Every `do_install` reruns; rstore's hash equivalence cuts off what follows, BitBake
//!   does what its own hash equivalence (`BB_HASHSERVE = "auto"`) lets it.
//!
//! "From nothing" removes the store, the parse cache, `TMPDIR` and `DL_DIR` on rstore's
//! side and `TMPDIR`, `SSTATE_DIR`, `DL_DIR` and `cache/` (parse cache and hash server
//! database) on BitBake's; both fetch from the same PREMIRROR (the offline mirror that
//! `scripts/fetch-offline-sources` fills). BitBake keeps its Python bytecode between runs
//! (`PYTHONPYCACHEPREFIX` in its build directory), as on a usual machine.
//!
//! Layout of the work directory (kept between runs):
//!
//! ```text
//! <work-dir>/rstore/{build,store,downloads}   rstore's build directory, store and DL_DIR
//! <work-dir>/meta-bench/                     the bench's layer (the class copy, when edited)
//! <work-dir>/logs/                           output of each command the bench ran
//! <bitbake-build-dir>/{build,meta-bench,meta-oe-offline,mirror}   BitBake's side, owned by its user
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::bitbake::{chown, keep_bytecode, shell, user, user_passes};
use crate::build::{
    BuildSummary, bitbake_tasks, default_work_dir, remove_any, run_json, run_logged_measured, sh_quote, sync_tree,
    write_if_changed,
};
use crate::parse::{Measured, rstore_binary};
use crate::report::Row;

/// What `tests/oe_build.rs` builds.
const TARGETS: [&str; 3] = ["xz-native", "zlib-native", "flex-native"];
/// The shared class the rebuild measurement changes, and the line inside which the
/// comment goes.
const CLASS: &str = "autotools.bbclass";
const FUNCTION_LINE: &str = "autotools_do_install() {";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// openembedded-core checkout at the reference commit (the offline overlay layer is written for it)
    #[arg(long, value_name = "DIR", env = "RSTORE_OE_CORE_DIR")]
    oe_core: PathBuf,
    /// BitBake checkout of the release: rstore runs the layers' tasks with it, and it is the peer
    #[arg(long, value_name = "DIR", env = "RSTORE_BITBAKE_DIR")]
    bitbake: PathBuf,
    /// Run BitBake as this user (BitBake refuses to run as root); it must be able to read
    /// the openembedded-core checkout
    #[arg(long, value_name = "USER", env = "RSTORE_BENCH_BITBAKE_USER")]
    bitbake_user: Option<String>,
    /// The downloads: the directory `scripts/fetch-offline-sources DIR` fills
    /// [default: ~/.cache/rstore/offline-mirror]
    #[arg(long, value_name = "DIR", env = "RSTORE_OE_MIRROR")]
    mirror: Option<PathBuf>,
    /// Where rstore's build directory, store and the logs are kept between runs
    /// [default: $CARGO_TARGET_DIR/bench-oe-build, else target/bench-oe-build]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// BitBake's side (build directory, layer and mirror copies), which its user must be
    /// able to write [default: <work-dir>/bitbake]
    #[arg(long, value_name = "DIR")]
    bitbake_build_dir: Option<PathBuf>,
    /// Measure rstore only
    #[arg(long)]
    no_bitbake: bool,
}

/// One tool's figures.
struct Figures {
    scratch: Outcome,
    noop: Outcome,
    class_edit: Outcome,
}

/// A measured build and what it did, in words.
struct Outcome {
    measured: Measured,
    did: String,
}

impl From<BuildSummary> for Outcome {
    fn from(s: BuildSummary) -> Outcome {
        let did = s.describe();
        Outcome { measured: s.measured, did }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rstore = rstore_binary()?;
    let oe = canonical(&args.oe_core, "the openembedded-core checkout")?;
    let bitbake = canonical(&args.bitbake, "the BitBake checkout")?;
    if !bitbake.join("bin/bitbake").is_file() {
        bail!("{} is not a BitBake checkout (no bin/bitbake)", bitbake.display());
    }
    let classes = classes_dir(&oe)?;
    let mirror = match &args.mirror {
        Some(m) => m.clone(),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache/rstore/offline-mirror")
        }
    };
    let mirror = canonical(&mirror, "the offline mirror (fill it with scripts/fetch-offline-sources DIR)")?;
    let overlay = canonical(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/layers/meta-oe-offline"),
        "the offline overlay layer",
    )?;
    let work = args.work_dir.clone().unwrap_or_else(|| default_work_dir("bench-oe-build"));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let work = canonical(&work, "the work directory")?;
    let logs = work.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    println!(
        "openembedded-core build benchmark: {} from nothing but the downloads, openembedded-core {}, \
         BitBake {}; work dir {}",
        TARGETS.join(" "),
        oe.display(),
        bitbake.display(),
        work.display()
    );

    let ours = rstore_figures(&rstore, &oe, &bitbake, &classes, &overlay, &mirror, &work, &logs)?;
    let peer = if args.no_bitbake {
        None
    } else {
        let dir = args.bitbake_build_dir.clone().unwrap_or_else(|| work.join("bitbake"));
        let side = BitBakeSide { bitbake: &bitbake, oe: &oe, user: args.bitbake_user.as_deref() };
        match side.figures(&dir, &classes, &overlay, &mirror, &logs) {
            Ok(f) => Some(f),
            Err(e) => {
                println!("BitBake not measured: {e:#}");
                None
            }
        }
    };

    println!();
    for (what, mine, theirs) in [
        ("from nothing", &ours.scratch, peer.as_ref().map(|p| &p.scratch)),
        ("no-op rebuild", &ours.noop, peer.as_ref().map(|p| &p.noop)),
        ("after a comment in autotools_do_install", &ours.class_edit, peer.as_ref().map(|p| &p.class_edit)),
    ] {
        Row {
            what: &format!("{what}, wall time"),
            ours: mine.measured.seconds,
            peer_name: "bitbake",
            peer: theirs.map(|t| t.measured.seconds),
            unit: "s",
            higher_is_better: false,
        }
        .print();
        Row {
            what: &format!("{what}, peak memory"),
            ours: mine.measured.tree_peak_mib,
            peer_name: "bitbake",
            peer: theirs.map(|t| t.measured.tree_peak_mib),
            unit: "MiB",
            higher_is_better: false,
        }
        .print();
        println!("  rstore: {}", mine.did);
        if let Some(t) = theirs {
            println!("  bitbake: {}", t.did);
        }
    }
    println!(
        "(peak memory: the largest sum of the proportional set sizes of all the build's processes, \
         daemons and tasks included, sampled every 0.1 s, every 0.5 s after the first 10 s)"
    );
    Ok(())
}

fn canonical(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    path.canonicalize().with_context(|| format!("reading {what} {}", path.display()))
}

/// The directory of openembedded-core's recipe classes (`meta/classes` before the
/// split into classes-recipe).
fn classes_dir(oe: &Path) -> anyhow::Result<PathBuf> {
    ["meta/classes-recipe", "meta/classes"]
        .iter()
        .map(|d| oe.join(d))
        .find(|d| d.join(CLASS).is_file())
        .with_context(|| format!("{} has no {CLASS}: not openembedded-core?", oe.display()))
}

/// Write the bench's layer into `dir`: only its `layer.conf`, or with `edit` also a copy
/// of `CLASS` with a comment (different on every call) inside `autotools_do_install`.
fn write_bench_layer(dir: &Path, classes: &Path, edit: Option<&str>) -> anyhow::Result<()> {
    fs::create_dir_all(dir.join("conf")).with_context(|| format!("creating {}", dir.display()))?;
    // The core layer's series, as its layer.conf names them (BitBake and rstore alike
    // delete LAYERSERIES_CORENAMES before other layers' layer.conf are read).
    let core_conf = classes.parent().context("classes directory")?.join("conf/layer.conf");
    let text = fs::read_to_string(&core_conf).with_context(|| format!("reading {}", core_conf.display()))?;
    let series = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("LAYERSERIES_CORENAMES"))
        .and_then(|rest| rest.split('"').nth(1))
        .with_context(|| format!("{} sets no LAYERSERIES_CORENAMES", core_conf.display()))?;
    // First in BBPATH, so its class is found before openembedded-core's.
    let conf = format!(
        "BBPATH =. \"${{LAYERDIR}}:\"\nBBFILE_COLLECTIONS += \"rstore-bench\"\n\
         BBFILE_PATTERN_rstore-bench = \"^${{LAYERDIR}}/\"\nBBFILE_PRIORITY_rstore-bench = \"20\"\n\
         LAYERSERIES_COMPAT_rstore-bench = \"{series}\"\n"
    );
    write_if_changed(&dir.join("conf/layer.conf"), &conf)?;
    let copy = dir.join(classes.file_name().context("classes directory")?).join(CLASS);
    match edit {
        None => {
            if copy.exists() {
                fs::remove_file(&copy).with_context(|| format!("removing {}", copy.display()))?;
            }
            Ok(())
        }
        Some(comment) => {
            let original = fs::read_to_string(classes.join(CLASS))
                .with_context(|| format!("reading {}", classes.join(CLASS).display()))?;
            let Some(at) = original.find(FUNCTION_LINE) else {
                bail!("{} has no `{FUNCTION_LINE}` line", classes.join(CLASS).display())
            };
            let at = at + FUNCTION_LINE.len();
            let edited = format!("{}\n\t# {comment}{}", &original[..at], &original[at..]);
            fs::create_dir_all(copy.parent().unwrap_or(dir)).with_context(|| format!("creating {}", dir.display()))?;
            fs::write(&copy, edited).with_context(|| format!("writing {}", copy.display()))
        }
    }
}

/// A comment no earlier run wrote, so the class's hash is always new.
fn fresh_comment() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("rstore-bench class edit {nanos}")
}

/// `conf/bblayers.conf` and `conf/local.conf` of a build directory over `oe` and `layers`,
/// as `tests/oe_build.rs` writes them, with `downloads` as DL_DIR.
fn write_conf(build: &Path, oe: &Path, layers: &[&Path], mirror: &Path, downloads: &Path) -> anyhow::Result<()> {
    let templates = oe.join("meta/conf/templates/default");
    let read = |name: &str| {
        let path = templates.join(name);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let mut bblayers = read("bblayers.conf.sample")?.replace("##OEROOT##", &oe.display().to_string());
    let names: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    bblayers.push_str(&format!("BBLAYERS += \"{}\"\n", names.join(" ")));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut local = read("local.conf.sample")?;
    let mirror = mirror.display();
    local.push_str(&format!(
        "MACHINE = \"qemux86-64\"\nBB_NUMBER_THREADS = \"{threads}\"\nPARALLEL_MAKE = \"-j {threads}\"\n\
         DL_DIR = \"{}\"\n\
         PREMIRRORS:prepend = \"https?://.*/.* file://{mirror}/ git://.*/.* file://{mirror}/ \"\n\
         BB_NO_NETWORK = \"1\"\nINHERIT:remove = \"uninative\"\n",
        downloads.display()
    ));
    let conf = build.join("conf");
    fs::create_dir_all(&conf).with_context(|| format!("creating {}", conf.display()))?;
    write_if_changed(&conf.join("bblayers.conf"), &bblayers)?;
    write_if_changed(&conf.join("local.conf"), &local)
}

/// Remove each of `paths` that exists.
fn remove_all(paths: &[PathBuf]) -> anyhow::Result<()> {
    paths.iter().try_for_each(|p| remove_any(p))
}

#[allow(clippy::too_many_arguments)]
fn rstore_figures(
    rstore: &Path,
    oe: &Path,
    bitbake: &Path,
    classes: &Path,
    overlay: &Path,
    mirror: &Path,
    work: &Path,
    logs: &Path,
) -> anyhow::Result<Figures> {
    let side = work.join("rstore");
    let (build, store, downloads) = (side.join("build"), side.join("store"), side.join("downloads"));
    let layer = work.join("meta-bench");
    write_bench_layer(&layer, classes, None)?;
    write_conf(&build, oe, &[overlay, &layer], mirror, &downloads)?;
    remove_all(&[store.clone(), downloads.clone(), build.join("tmp"), build.join("cache")])?;
    let command = || {
        let mut c = Command::new(rstore);
        c.env_remove("RSTORE_STORE")
            .env("RSTORE_BITBAKE_DIR", bitbake)
            .arg("-C")
            .arg(&build)
            .arg("--store")
            .arg(&store)
            .args(["build", "--json"])
            .args(TARGETS);
        c
    };
    println!("rstore: building from nothing (minutes; events in {})", logs.join("rstore-scratch.json").display());
    let scratch = run_json(&mut command(), logs, "rstore-scratch")?;
    println!("rstore: from nothing in {:.1} s: {}", scratch.measured.seconds, scratch.describe());
    let noop = run_json(&mut command(), logs, "rstore-no-op")?;
    println!("rstore: no-op in {:.2} s: {}", noop.measured.seconds, noop.describe());
    write_bench_layer(&layer, classes, Some(&fresh_comment()))?;
    let edited = run_json(&mut command(), logs, "rstore-class-edit");
    write_bench_layer(&layer, classes, None)?;
    let edited = edited?;
    println!("rstore: after the class edit in {:.1} s: {}", edited.measured.seconds, edited.describe());
    Ok(Figures { scratch: scratch.into(), noop: noop.into(), class_edit: edited.into() })
}

/// BitBake's side: its own build directory and copies of the layers and mirror it
/// cannot reach where they are, owned by the user it runs as.
struct BitBakeSide<'a> {
    bitbake: &'a Path,
    oe: &'a Path,
    user: Option<&'a str>,
}

impl BitBakeSide<'_> {
    fn figures(
        &self,
        dir: &Path,
        classes: &Path,
        overlay: &Path,
        mirror: &Path,
        logs: &Path,
    ) -> anyhow::Result<Figures> {
        let user = user(self.user)?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = canonical(dir, "BitBake's build directory")?;
        let (build, layer, overlay_copy, mirror_copy) =
            (dir.join("build"), dir.join("meta-bench"), dir.join("meta-oe-offline"), dir.join("mirror"));
        sync_tree(overlay, &overlay_copy)?;
        copy_listed_sources(&overlay.join("sources.tsv"), mirror, &mirror_copy)?;
        write_bench_layer(&layer, classes, None)?;
        let downloads = build.join("downloads");
        write_conf(&build, self.oe, &[&overlay_copy, &layer], &mirror_copy, &downloads)?;
        remove_all(&["tmp", "tmp-glibc", "sstate-cache", "cache", "downloads"].map(|d| build.join(d)))?;
        if let Some(user) = user {
            chown(user, &[&dir], true)?;
            let checks = [
                ("-w", build.as_path()),
                ("-r", &self.oe.join("meta/conf/layer.conf")),
                ("-x", &self.bitbake.join("bin/bitbake")),
            ];
            if !user_passes(user, &checks)? {
                bail!(
                    "{user} cannot write {} or read {} and {}: pass --bitbake-build-dir DIR and checkouts \
                     {user} can reach, e.g. under its home directory",
                    build.display(),
                    self.oe.display(),
                    self.bitbake.display()
                );
            }
        }
        let command = || {
            let script = format!(
                "cd {} && export PATH={}:\"$PATH\" LANG=en_US.UTF-8 && exec bitbake {}",
                sh_quote(&build.display().to_string()),
                sh_quote(&self.bitbake.join("bin").display().to_string()),
                TARGETS.join(" ")
            );
            let mut c = shell(user, &script);
            keep_bytecode(&mut c, &build.join("pycache"));
            c
        };
        let run = |name: &str| -> anyhow::Result<Outcome> {
            // The client returns before its server has written the parse cache and
            // exited: a call started then finds no cache and parses everything again.
            wait_for_server_exit(&build)?;
            let log = logs.join(format!("{name}.log"));
            let measured = run_logged_measured(&mut command(), &log, &log)?;
            Ok(Outcome { measured, did: bitbake_tasks(&log) })
        };
        println!("BitBake: building from nothing (minutes; output in {})", logs.join("bitbake-scratch.log").display());
        let scratch = run("bitbake-scratch")?;
        println!("BitBake: from nothing in {:.1} s: {}", scratch.measured.seconds, scratch.did);
        // The first call after a build from nothing parses every recipe again (the
        // build's server did not leave its parse cache); the second is BitBake's no-op.
        let first = run("bitbake-no-op-first")?;
        println!(
            "BitBake: first no-op after the build in {:.1} s (it parses every recipe again): {}",
            first.measured.seconds, first.did
        );
        let mut noop = run("bitbake-no-op")?;
        noop.did = format!("{} (the first call after the build: {:.1} s)", noop.did, first.measured.seconds);
        println!("BitBake: no-op in {:.2} s: {}", noop.measured.seconds, noop.did);
        write_bench_layer(&layer, classes, Some(&fresh_comment()))?;
        if let Some(user) = user {
            chown(user, &[&layer], true)?;
        }
        let edited = run("bitbake-class-edit");
        write_bench_layer(&layer, classes, None)?;
        let edited = edited?;
        println!("BitBake: after the class edit in {:.1} s: {}", edited.measured.seconds, edited.did);
        Ok(Figures { scratch, noop, class_edit: edited })
    }
}

/// Copy the files `list` (the overlay's `sources.tsv`: the native bootstrap's) names
/// from `mirror` into `dest`, where they are missing or differ in size: the mirror may
/// also hold the toolchain's half a gigabyte, which this build never reads.
fn copy_listed_sources(list: &Path, mirror: &Path, dest: &Path) -> anyhow::Result<()> {
    let text = fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for name in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).filter_map(|l| l.split('\t').next()) {
        if name.contains('/') || name.starts_with('.') {
            bail!("{}: {name:?} is not a plain file name", list.display());
        }
        let (from, to) = (mirror.join(name), dest.join(name));
        let size = fs::metadata(&from)
            .with_context(|| format!("{} is not in the mirror: run scripts/fetch-offline-sources", from.display()))?
            .len();
        if fs::symlink_metadata(&to).is_ok_and(|m| m.is_file() && m.len() == size) {
            continue;
        }
        fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Wait until no BitBake server holds `build`'s `bitbake.lock` (at most two minutes).
fn wait_for_server_exit(build: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let lock = build.join("bitbake.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let Ok(file) = fs::File::open(&lock) else { return Ok(()) };
        // SAFETY: flock on a descriptor we own; the lock goes with the file.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("a BitBake server still holds {} after two minutes", lock.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_sources_are_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let (mirror, dest) = (tmp.path().join("mirror"), tmp.path().join("dest"));
        fs::create_dir_all(&mirror).unwrap();
        fs::write(mirror.join("a.tar.gz"), "a").unwrap();
        fs::write(mirror.join("big.tar.xz"), "not listed").unwrap();
        let list = tmp.path().join("sources.tsv");
        fs::write(&list, "# comment\na.tar.gz\tsha\tpath\t\n").unwrap();
        copy_listed_sources(&list, &mirror, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("a.tar.gz")).unwrap(), "a");
        assert!(!dest.join("big.tar.xz").exists());
        fs::write(&list, "../escape\tsha\tpath\t\n").unwrap();
        assert!(copy_listed_sources(&list, &mirror, &dest).is_err());
        fs::write(&list, "missing.tar.gz\tsha\tpath\t\n").unwrap();
        let err = copy_listed_sources(&list, &mirror, &dest).unwrap_err().to_string();
        assert!(err.contains("fetch-offline-sources"), "{err}");
    }

    #[test]
    fn the_class_copy_gets_one_comment_line_inside_the_function_and_goes_away() {
        let tmp = tempfile::tempdir().unwrap();
        let classes = tmp.path().join("oe/meta/classes-recipe");
        fs::create_dir_all(&classes).unwrap();
        fs::create_dir_all(tmp.path().join("oe/meta/conf")).unwrap();
        fs::write(tmp.path().join("oe/meta/conf/layer.conf"), "LAYERSERIES_CORENAMES = \"wrynose blacksail\"\n")
            .unwrap();
        fs::write(classes.join(CLASS), "X = \"1\"\nautotools_do_install() {\n\toe_runmake install\n}\n").unwrap();
        let layer = tmp.path().join("meta-bench");
        write_bench_layer(&layer, &classes, Some("edit 1")).unwrap();
        let copy = layer.join("classes-recipe").join(CLASS);
        assert_eq!(
            fs::read_to_string(&copy).unwrap(),
            "X = \"1\"\nautotools_do_install() {\n\t# edit 1\n\toe_runmake install\n}\n"
        );
        let conf = fs::read_to_string(layer.join("conf/layer.conf")).unwrap();
        assert!(conf.starts_with("BBPATH =. \"${LAYERDIR}:\""), "{conf}");
        assert!(conf.contains("LAYERSERIES_COMPAT_rstore-bench = \"wrynose blacksail\""), "{conf}");
        write_bench_layer(&layer, &classes, None).unwrap();
        assert!(!copy.exists());
    }
}
