//! `rstore env`: the whole datastore of the configuration or a recipe (like `bitbake -e`).

use std::process::ExitCode;

use rstore_importer::emit;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Print every variable and shell function, expanded, as `bitbake -e` does
#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// A recipe (PN, .bb path or virtual:VARIANT:FILE); without it, the configuration
    pub recipe: Option<String>,
    /// Precede each variable with the history of its value
    #[arg(long)]
    pub history: bool,
}

pub fn run(global: &GlobalArgs, args: EnvArgs) -> anyhow::Result<ExitCode> {
    let session = metadata::open(global, args.history)?;
    let d = match &args.recipe {
        None => session.data().clone(),
        Some(name) => metadata::recipe_variant(&session, name)?.1.data,
    };
    print!("{}", emit::emit_env(&d, true).map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(ExitCode::SUCCESS)
}
