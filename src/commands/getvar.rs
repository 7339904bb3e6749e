//! `rstore getvar`: one variable of the configuration or of a recipe (like `bitbake-getvar`).

use std::process::ExitCode;

use rstore_importer::datastore::Read;
use rstore_importer::emit;
use serde_json::json;

use crate::GlobalArgs;
use crate::commands::metadata;

/// Show the value of a variable (or one of its flags), optionally with its history
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  rstore getvar MACHINE\n  rstore getvar zlib SRC_URI --history\n  rstore getvar busybox do_compile --flag deps"
)]
pub struct GetvarArgs {
    /// [RECIPE] VAR: a recipe (PN, .bb path or virtual:VARIANT:FILE) and a variable; with only
    /// VAR, the configuration's value
    #[arg(num_args = 1..=2, required = true, value_names = ["RECIPE", "VAR"])]
    pub args: Vec<String>,
    /// Show this flag of the variable instead of its value
    #[arg(long, short = 'f')]
    pub flag: Option<String>,
    /// List each file:line that set, appended, prepended or removed part of the value
    #[arg(long)]
    pub history: bool,
    /// Print only the value
    #[arg(long, conflicts_with = "history")]
    pub value: bool,
    /// Print the unexpanded value
    #[arg(long)]
    pub unexpand: bool,
    /// Print a JSON object with the value and its history
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: GetvarArgs) -> anyhow::Result<ExitCode> {
    let (recipe, var) = match args.args.as_slice() {
        [var] => (None, var.clone()),
        [recipe, var] => (Some(recipe.clone()), var.clone()),
        _ => unreachable!("clap enforces one or two arguments"),
    };
    let session = metadata::open(global, args.history || args.json)?;
    let d = match &recipe {
        None => session.data().clone(),
        Some(name) => {
            let (_, v) = metadata::recipe_variant(&session, name)?;
            if let Some(reason) = &v.skipped {
                eprintln!("note: {name} is skipped: {reason}");
            }
            v.data
        }
    };
    let read = Read { expand: !args.unexpand, ..Read::RAW };
    let value = match &args.flag {
        Some(flag) => d.get_var_flag(&var, flag, read),
        None => d.get_var_flag(&var, "_content", read),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let history = if args.flag.is_some() { d.history(&var) } else { emit::full_history(&d, &var) };
    if args.json {
        let out = json!({
            "variable": var,
            "flag": args.flag,
            "value": value.as_ref().map(|v| v.to_string()),
            "history": history,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.history {
        let raw = d.get_var(&var, false).map_err(|e| anyhow::anyhow!("{e}"))?;
        print!("{}", emit::history_comment(&var, &history, raw.as_ref()));
    }
    match (&value, args.value) {
        (Some(v), true) => println!("{v}"),
        (Some(v), false) => {
            let name = match &args.flag {
                Some(f) => format!("{var}[{f}]"),
                None => var.clone(),
            };
            let exported = args.flag.is_none()
                && d.get_var_flag(&var, "export", Read::EXPANDED)
                    .ok()
                    .flatten()
                    .is_some_and(|e| matches!(e.to_string().to_lowercase().as_str(), "1" | "yes" | "y" | "true" | "t"));
            println!("{}{name}=\"{v}\"", if exported { "export " } else { "" });
        }
        (None, _) => {
            eprintln!("{var} is not set");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
