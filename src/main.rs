//! The `rstore` command line: one module per command under `commands/`.
//!
//! stdout carries results only (text or `--json`); logs and progress go to stderr.

mod commands;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build BitBake/Yocto layers the way Nix builds derivations.
///
/// rstore works from a BitBake build directory (one holding conf/bblayers.conf and
/// conf/local.conf): the current directory, or the one given with -C.
#[derive(Debug, Parser)]
#[command(name = "rstore", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Build directory (holds conf/bblayers.conf and conf/local.conf) [default: current directory]
    #[arg(short = 'C', long = "build-dir", global = true, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Store directory; overrides RSTORE_STORE_DIR from local.conf
    #[arg(long = "store", global = true, value_name = "DIR", env = "RSTORE_STORE")]
    pub store: Option<PathBuf>,
    /// More log output on stderr (-v: debug, -vv: trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Metadata(commands::MetadataCommand),
    /// Work with the content-addressed store
    #[command(subcommand)]
    Store(commands::store::StoreCommand),
    /// Run commands in the hermetic task sandbox
    #[command(subcommand)]
    Sandbox(commands::sandbox::SandboxCommand),
    /// Binary caches: push outputs, serve the store over HTTP, verify a cache
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
    /// Signing keys for binary caches
    #[command(subcommand)]
    Key(commands::cache::KeyCommand),
    /// Reports on builds: how reproducible the targets' tasks are
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Compare the outputs of the targets' tasks with a binary cache's
    Challenge(commands::challenge::ChallengeArgs),
}

fn main() -> ExitCode {
    // Like every Unix tool: when the reader of stdout goes away (`rstore … | head`),
    // stop quietly instead of failing on the next write.
    // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    logging::init(cli.global.verbose, cli.global.quiet);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
