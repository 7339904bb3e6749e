//! The patch built-in: the recipe's patches applied in SRC_URI order with the host's
//! `patch` (a HOSTTOOL), `--batch --no-backup-if-mismatch -p<striplevel>` in
//! `${S}/<patchdir>`. The first patch that does not apply fails the task with
//! patch's own output.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::builtin::fetch::files::{FsError, clamp_mtimes, source_date_epoch};

/// Apply the patches of one recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// The patches, in SRC_URI order.
    pub patches: Vec<PatchEntry>,
}

/// One patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchEntry {
    /// The SRC_URI entry, for messages.
    pub url: String,
    /// The patch file (as unpacked into UNPACKDIR), inside the sandbox.
    pub file: PathBuf,
    /// The directory to apply it in (`${S}/<patchdir>`).
    pub dir: PathBuf,
    /// Leading path components to remove from file names in the patch (`striplevel=`).
    pub striplevel: u32,
}

/// Why the patch task failed.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("{recipe}: applying {patch} to {dir} failed ({status}):\n{output}")]
    Failed { recipe: String, patch: String, dir: PathBuf, status: String, output: String },
    #[error("{url}: the patch {file} is missing (the unpack task should have left it)")]
    Missing { url: String, file: PathBuf },
    #[error("{url}: the directory {dir} to patch does not exist (check S and patchdir=)")]
    NoDir { url: String, dir: PathBuf },
    #[error("running patch for {patch}")]
    Spawn {
        patch: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Run a patch request, writing what it does (and patch's output) to `log`.
pub fn run(request: &PatchRequest, log: &mut dyn Write) -> Result<(), PatchError> {
    for p in &request.patches {
        let name = p.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.url.clone());
        if !p.file.is_file() {
            return Err(PatchError::Missing { url: p.url.clone(), file: p.file.clone() });
        }
        if !p.dir.is_dir() {
            return Err(PatchError::NoDir { url: p.url.clone(), dir: p.dir.clone() });
        }
        let _ = writeln!(log, "Applying {name}");
        let out = Command::new("patch")
            .args(["--batch", "--no-backup-if-mismatch"])
            .arg(format!("-p{}", p.striplevel))
            .arg("-d")
            .arg(&p.dir)
            .arg("-i")
            .arg(&p.file)
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| PatchError::Spawn { patch: name.clone(), source })?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        let _ = log.write_all(output.as_bytes());
        if !out.status.success() {
            return Err(PatchError::Failed {
                recipe: request.recipe.clone(),
                patch: name,
                dir: p.dir.clone(),
                status: out.status.to_string(),
                output,
            });
        }
    }
    if let Some(epoch) = source_date_epoch() {
        let mut dirs: Vec<&PathBuf> = request.patches.iter().map(|p| &p.dir).collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            clamp_mtimes(dir, epoch)?;
        }
    }
    Ok(())
}
