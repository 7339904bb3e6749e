//! Task-graph benchmark: `rstore graph TARGET` from a warm parse cache on
//! openembedded-core (or the bundled layers), beside `bitbake -g TARGET` from a warm
//! BitBake cache on the same checkout and configuration when a BitBake checkout is given.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::bitbake::{Checkouts, OeCoreBuild};
use crate::parse::{measure, median, release_of, rstore_binary, write_build_dir};
use crate::report::Row;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    checkouts: Checkouts,
    /// Target [default: core-image-minimal, or rstore-image-minimal for the bundled layers]
    #[arg(long)]
    target: Option<String>,
    /// Repetitions of each measurement (the median is reported)
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rstore = rstore_binary()?;
    let oe = args.checkouts.oe_core()?;
    let target = args.target.clone().unwrap_or_else(|| {
        if oe.is_some() { "core-image-minimal".to_owned() } else { "rstore-image-minimal".to_owned() }
    });
    let tmp = tempfile::tempdir()?;
    let build = tmp.path().join("build");
    let what = write_build_dir(&build, oe.as_deref())?;
    println!(
        "graph and hashes benchmark: {target} on {what}, {}, {} run(s) each, median, warm caches",
        release_of(&build)?,
        args.runs
    );
    let rstore_cmd = |sub: &[&str]| {
        let mut c = Command::new(&rstore);
        c.arg("-q").arg("-C").arg(&build).args(sub).stdout(Stdio::null());
        c
    };
    // Fill the parse cache; the graph runs then read it.
    measure(&mut rstore_cmd(&["parse"]))?;
    let out = build.join("graph-out");
    let graph_args = ["graph", target.as_str(), "--hashes", "-o", out.to_str().context("temporary path is not UTF-8")?];
    // The first run computes the signatures of the graph's recipes and caches them.
    measure(&mut rstore_cmd(&graph_args))?;
    let mut ours = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..args.runs.max(1) {
        let m = measure(&mut rstore_cmd(&graph_args))?;
        ours.push(m.seconds);
        rss.push(m.max_rss_mib);
    }
    let tasks =
        std::fs::read_to_string(out.join("task-depends.dot")).map(|d| d.matches("[label=").count()).unwrap_or_default();
    println!("{tasks} tasks in the graph");
    let peer = match (&args.checkouts.bitbake, &oe) {
        (Some(bitbake), Some(oe)) => {
            match bitbake_graph_time(bitbake, oe, args.checkouts.bitbake_user.as_deref(), &target, args.runs) {
                Ok(t) => Some(t),
                Err(e) => {
                    println!("BitBake not measured: {e:#}");
                    None
                }
            }
        }
        _ => {
            println!(
                "BitBake not measured (give --bitbake DIR and --oe-core DIR). Reference on this machine kind \
                 (2 vCPU, same checkout): bitbake -g core-image-minimal warm 7.2 s."
            );
            None
        }
    };
    Row {
        what: "task graph from a warm parse cache",
        ours: median(ours),
        peer_name: "bitbake -g (warm)",
        peer,
        unit: "s",
        higher_is_better: false,
    }
    .print();
    Row {
        what: "peak RSS of rstore graph",
        ours: median(rss),
        peer_name: "",
        peer: None,
        unit: "MiB",
        higher_is_better: false,
    }
    .print();
    Ok(())
}

/// Warm `bitbake -g TARGET` on a copy of the build directory owned by `user`.
fn bitbake_graph_time(bitbake: &Path, oe: &Path, user: Option<&str>, target: &str, runs: usize) -> anyhow::Result<f64> {
    let build = OeCoreBuild::new(bitbake, oe, user)?;
    let args = format!("-g {target}");
    // The first run parses everything, the second parses again after it (see the
    // parse benchmark); the runs after those are warm.
    measure(&mut build.command(&args))?;
    measure(&mut build.command(&args))?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        times.push(measure(&mut build.command(&args))?.seconds);
    }
    Ok(median(times))
}
