//! `rstore-bench`: one subcommand per capability. Each prints rstore's figure beside a
//! peer doing the same work in the same run, and the ratio. Benchmarks are not tests.
//!
//! Run with `cargo run --release -p rstore-bench -- <name>` (or `bench/run <name>`).

mod bitbake;
mod build;
mod cache;
mod check;
mod fetch;
mod graph;
mod memory;
mod oe_build;
mod parse;
mod report;
mod sandbox;
mod schedule;
mod store;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "rstore-bench", about = "rstore benchmarks, side by side with peers")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Parse all of openembedded-core (or the bundled layers) cold and warm vs bitbake -p
    Parse(parse::Args),
    /// Task graph of an image from a warm parse vs bitbake -g
    Graph(graph::Args),
    /// Store ingest / re-ingest / materialise vs b3sum, zstd and cp -a
    Store(store::Args),
    /// Per-task sandbox overhead vs plain exec and bwrap
    Sandbox(sandbox::Args),
    /// Download and unpack throughput of the fetch built-ins vs curl and tar
    Fetch(fetch::Args),
    /// No-op build of rstore-image-minimal and the rebuild after editing hello vs bitbake
    Build(build::Args),
    /// openembedded-core's native bootstrap from nothing, no-op and after a class edit vs bitbake
    OeBuild(oe_build::Args),
    /// Binary caches: substitution throughput vs curl, batched existence, the demo image from a cache
    Cache(cache::Args),
    /// Proving the demo image reproducible: build --check vs building twice + diffoscope
    Check(check::Args),
    /// Scheduling overhead of the realisation engine on synthetic graphs of instant tasks
    Schedule(schedule::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::Parse(args) => parse::run(args),
        Bench::Graph(args) => graph::run(args),
        Bench::Store(args) => store::run(args),
        Bench::Sandbox(args) => sandbox::run(args),
        Bench::Fetch(args) => fetch::run(args),
        Bench::Build(args) => build::run(args),
        Bench::OeBuild(args) => oe_build::run(args),
        Bench::Schedule(args) => schedule::run(args),
        Bench::Cache(args) => cache::run(args),
        Bench::Check(args) => check::run(args),
    }
}
