//! One file per command. `run` dispatches.

pub mod build;
pub mod builtin;
pub mod cache;
pub mod challenge;
pub mod check;
pub mod env;
pub mod fetch;
pub mod getvar;
pub mod graph;
pub mod init;
pub mod layers;
pub mod metadata;
pub mod parse;
pub mod recipes;
pub mod report;
pub mod sandbox;
pub mod show;
pub mod store;
pub mod why;

use std::process::ExitCode;

use clap::Subcommand;

use crate::{Cli, Command};

/// Commands that read BitBake metadata.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Create a build directory for the bundled layers
    Init(init::InitArgs),
    /// Show the enabled layers, their priorities and the BitBake release they are read as
    Layers(layers::LayersArgs),
    /// List recipes and variants with their variables and tasks
    Recipes(recipes::RecipesArgs),
    /// Parse all recipes and report counts, errors and time
    Parse(parse::ParseArgs),
    /// Show a variable of the configuration or of a recipe
    Getvar(getvar::GetvarArgs),
    /// Show every variable of the configuration or of a recipe (like bitbake -e)
    Env(env::EnvArgs),
    /// Compute the task graph of targets (like bitbake -g) and write it out
    Graph(graph::GraphArgs),
    /// Show the derivation of a task: its inputs with values, and its hashes
    Show(show::ShowArgs),
    /// Build targets: substitute what the store has, run the rest in the sandbox
    Build(build::BuildArgs),
    /// Explain why a task's hash changed since a saved graph
    Why(why::WhyArgs),
    /// Work with the download cache: import a folder of source files
    Fetch(fetch::FetchArgs),
    /// Run one built-in task from its JSON request (used inside task sandboxes)
    #[command(hide = true, name = "__builtin")]
    Builtin(builtin::BuiltinArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Metadata(cmd) => match cmd {
            MetadataCommand::Init(a) => init::run(&cli.global, a),
            MetadataCommand::Layers(a) => layers::run(&cli.global, a),
            MetadataCommand::Recipes(a) => recipes::run(&cli.global, a),
            MetadataCommand::Parse(a) => parse::run(&cli.global, a),
            MetadataCommand::Getvar(a) => getvar::run(&cli.global, a),
            MetadataCommand::Env(a) => env::run(&cli.global, a),
            MetadataCommand::Graph(a) => graph::run(&cli.global, a),
            MetadataCommand::Show(a) => show::run(&cli.global, a),
            MetadataCommand::Build(a) => build::run(&cli.global, a),
            MetadataCommand::Why(a) => why::run(&cli.global, a),
            MetadataCommand::Fetch(a) => fetch::run(&cli.global, a),
            MetadataCommand::Builtin(a) => builtin::run(a),
        },
        Command::Store(cmd) => store::run(&cli.global, cmd),
        Command::Sandbox(cmd) => sandbox::run(&cli.global, cmd),
        Command::Cache(cmd) => cache::run(&cli.global, cmd),
        Command::Key(cmd) => cache::run_key(cmd),
        Command::Report(cmd) => report::run(&cli.global, cmd),
        Command::Challenge(args) => challenge::run(&cli.global, args),
    }
}
