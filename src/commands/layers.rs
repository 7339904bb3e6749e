//! `rstore layers`: the BitBake release the layers are read as, and the enabled layers
//! (like `bitbake-layers show-layers`).

use std::process::ExitCode;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Show the layers of the build directory, and the BitBake release they are read as
#[derive(Debug, clap::Args)]
pub struct LayersArgs {
    /// One JSON object per layer
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: LayersArgs) -> anyhow::Result<ExitCode> {
    let session = metadata::open(global, false)?;
    if args.json {
        for c in &session.collections {
            println!("{}", serde_json::to_string(c)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("Read as {}\n", session.config.bitbake);
    println!("{:<20} {:<60} {:>8}", "layer", "path", "priority");
    println!("{}", "=".repeat(90));
    for c in &session.collections {
        let path = c.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| c.pattern.clone());
        println!("{:<20} {:<60} {:>8}", c.name, path, c.priority);
    }
    Ok(ExitCode::SUCCESS)
}
