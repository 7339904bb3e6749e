//! `rstore __builtin [REQUEST]`: run one built-in task (hidden; the realisation engine
//! runs it inside the task's sandbox). The request is JSON
//! (`rstore_evaluator::builtin::BuiltinRequest`) read from the file REQUEST or from
//! standard input; what the task does goes to standard output, the reason it failed to
//! standard error; the exit status is 0 on success and 1 on failure.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rstore_evaluator::builtin::{self, BuiltinRequest};

/// Run a built-in task from its JSON request
#[derive(Debug, clap::Args)]
pub struct BuiltinArgs {
    /// The request file [default: standard input]
    pub request: Option<PathBuf>,
}

pub fn run(args: BuiltinArgs) -> anyhow::Result<ExitCode> {
    let mut json = Vec::new();
    match &args.request {
        Some(path) => json = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            std::io::stdin().read_to_end(&mut json).context("reading the request from standard input")?;
        }
    }
    let request: BuiltinRequest = serde_json::from_slice(&json).context("parsing the built-in request")?;
    let mut out = std::io::stdout().lock();
    let result = builtin::run(&request, &mut out);
    let _ = out.flush();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let mut message = format!("ERROR: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{message}");
            Ok(ExitCode::FAILURE)
        }
    }
}
