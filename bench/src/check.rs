//! Check benchmark: proving the demo image (`rstore-image-minimal`) reproducible from
//! nothing. rstore: `rstore build --check`, which builds it once and runs every task
//! again under varied conditions, comparing each output tree. The way people do it
//! today: build it twice from nothing in two build directories and compare the two
//! deploy directories with diffoscope (reprotest and Yocto's oe-selftest work so). Both
//! in the same run, each from an empty store.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::parse::rstore_binary;
use crate::report::Row;

const TARGET: &str = "rstore-image-minimal";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Downloads mirror filled by `scripts/fill-downloads-mirror DIR` (the builds fetch from it)
    #[arg(long, value_name = "DIR", env = "RSTORE_DOWNLOADS_MIRROR")]
    mirror: Option<PathBuf>,
    /// Where the build directories and logs go (emptied at start)
    /// [default: $CARGO_TARGET_DIR/bench-check, else target/bench-check]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rstore = rstore_binary()?;
    let mirror = crate::build::downloads_mirror(args.mirror.as_deref())?;
    let diffoscope =
        which("diffoscope").context("diffoscope is not installed (Debian: apt install diffoscope-minimal)")?;
    let work = args.work_dir.unwrap_or_else(|| crate::build::default_work_dir("bench-check"));
    if work.exists() {
        rstore_store::remove_tree_forcibly(&work).with_context(|| format!("emptying {}", work.display()))?;
    }
    fs::create_dir_all(work.join("logs"))?;
    let init = |name: &str| -> anyhow::Result<PathBuf> {
        let dir = work.join(name);
        run_logged(Command::new(&rstore).arg("init").arg(&dir), &work.join("logs").join(format!("init-{name}")))?;
        let conf = dir.join("conf/local.conf");
        let mut text = fs::read_to_string(&conf)?;
        text.push_str(&format!("SOURCE_MIRROR_URL = \"file://{}\"\nBB_NO_NETWORK = \"1\"\n", mirror.display()));
        fs::write(&conf, text)?;
        Ok(dir)
    };

    // rstore: one command, from an empty store.
    let ours_dir = init("check")?;
    let started = Instant::now();
    let check = run_logged(
        Command::new(&rstore).arg("-C").arg(&ours_dir).args(["build", "--check", TARGET]),
        &work.join("logs/build-check"),
    );
    let ours = started.elapsed().as_secs_f64();
    let summary = fs::read_to_string(work.join("logs/build-check")).unwrap_or_default();
    let line = summary.lines().find(|l| l.starts_with("Check of ")).unwrap_or("(no check summary)").to_owned();
    check
        .with_context(|| format!("rstore build --check {TARGET} (log: {})", work.join("logs/build-check").display()))?;

    // Build twice from nothing, then diffoscope the two deploy directories.
    let started = Instant::now();
    let mut deploys = Vec::new();
    for name in ["twice-1", "twice-2"] {
        let dir = init(name)?;
        run_logged(
            Command::new(&rstore).arg("-C").arg(&dir).args(["build", TARGET]),
            &work.join("logs").join(format!("build-{name}")),
        )?;
        deploys.push(dir.join("tmp/deploy"));
    }
    let built_twice = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = work.join("logs/diffoscope.txt");
    let status = Command::new(&diffoscope)
        .args(["--no-progress", "--exclude-directory-metadata=yes", "--text"])
        .arg(&report)
        .arg(&deploys[0])
        .arg(&deploys[1])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running diffoscope")?;
    let compared = started.elapsed().as_secs_f64();
    let identical = status.code() == Some(0);
    let peer = built_twice + compared;

    println!("rstore build --check {TARGET} from nothing: {line}");
    println!(
        "build twice + diffoscope: two builds {built_twice:.1} s, diffoscope {compared:.1} s, deploy directories {}",
        if identical { "identical" } else { "DIFFER (see logs/diffoscope.txt)" }
    );
    Row {
        what: "prove the demo image reproducible",
        ours,
        peer_name: "build twice+diffoscope",
        peer: Some(peer),
        unit: "s",
        higher_is_better: false,
    }
    .print();
    println!(
        "(rstore also varies clock, randomness, CPU count, directory order and kernel, and names the cause of any \
         difference; the peer compares only what two plain builds publish)"
    );
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Runs `cmd` with its output in `log`; fails naming the log when it fails.
fn run_logged(cmd: &mut Command, log: &Path) -> anyhow::Result<()> {
    let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let status = cmd.stdout(file.try_clone()?).stderr(file).status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status}); log: {}", log.display());
    }
    Ok(())
}
