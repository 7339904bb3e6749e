//! The `populate-lic` built-in (license.bbclass `do_populate_lic`): check every
//! `LIC_FILES_CHKSUM` entry against the sources and collect the license texts.
//!
//! Each entry names a file (relative to `${S}`, or absolute) and the md5 of the whole
//! file or of its lines `beginline`..`endline` (1-based, inclusive; lines end at
//! `\n`, `\r\n` or `\r`, as Python's `splitlines` splits them). What was checked is
//! copied to `<dest>/<path in the sources>` (`<file name>` for an absolute path),
//! with `.lines-B-E` appended when only some lines were checked, and `recipeinfo`
//! records `LICENSE`, `PV` and `PR`. Every mismatch is reported, each with the md5
//! found and the md5 expected; then the task fails.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::Bind;

/// The `populate-lic` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// `${LICENSE_DESTDIR}/${PN}`.
    pub dest: PathBuf,
    pub files: Vec<LicenseFile>,
    /// `LICENSE`, `PV` and `PR`, for `recipeinfo`.
    pub license: String,
    pub pv: String,
    pub pr: String,
}

/// One `LIC_FILES_CHKSUM` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseFile {
    /// The path as the entry writes it (relative to `${S}`, or absolute).
    pub path: String,
    /// Where the file is read inside the sandbox.
    pub location: PathBuf,
    /// A host file mounted read-only at `location` (a license file kept outside the
    /// task's work directory, for example in a layer).
    pub host: Option<PathBuf>,
    /// The expected md5, lower-case hex.
    pub md5: String,
    pub begin_line: Option<usize>,
    pub end_line: Option<usize>,
}

impl LicenseRequest {
    /// The host files the request reads.
    pub fn binds(&self) -> Vec<Bind> {
        self.files
            .iter()
            .filter_map(|f| {
                f.host.as_ref().map(|host| Bind { host: host.clone(), inside: f.location.clone(), writable: false })
            })
            .collect()
    }
}

/// Why checking the licenses failed.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    #[error("{recipe}: the license files do not match LIC_FILES_CHKSUM:\n  {}", problems.join("\n  "))]
    Mismatch { recipe: String, problems: Vec<String> },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Check and collect the license files.
pub fn run(request: &LicenseRequest, log: &mut dyn Write) -> Result<(), LicenseError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LicenseError::Write { path, source }
    };
    fs::create_dir_all(&request.dest).map_err(write_err(&request.dest))?;
    let mut problems = Vec::new();
    for file in &request.files {
        let bytes = match fs::read(&file.location) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                problems.push(format!("{}: no such file", file.path));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: cannot be read: {e}", file.path));
                continue;
            }
        };
        let lines = split_lines(&bytes);
        let begin = file.begin_line.unwrap_or(1);
        let end = file.end_line.unwrap_or(lines.len());
        let first = begin.saturating_sub(1).min(lines.len());
        let last = end.min(lines.len()).max(first);
        let text: Vec<u8> = lines[first..last].concat();
        let found = md5_hex(&text);
        if found != file.md5.to_ascii_lowercase() {
            problems.push(format!(
                "{} (lines {begin}-{end}): md5 is {found}, LIC_FILES_CHKSUM says {}",
                file.path, file.md5
            ));
            continue;
        }
        let mut name = stored_name(&file.path);
        if file.begin_line.is_some() || file.end_line.is_some() {
            name.as_mut_os_string().push(format!(".lines-{begin}-{end}"));
        }
        let target = request.dest.join(&name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        fs::write(&target, &text).map_err(write_err(&target))?;
        let _ = writeln!(log, "NOTE: {}: md5 {found} matches", file.path);
    }
    if !problems.is_empty() {
        return Err(LicenseError::Mismatch { recipe: request.recipe.clone(), problems });
    }
    let info = request.dest.join("recipeinfo");
    let text = format!("LICENSE: {}\nPV: {}\nPR: {}\n", request.license, request.pv, request.pr);
    fs::write(&info, text).map_err(write_err(&info))?;
    Ok(())
}

/// The lines of `bytes`, each with its line ending (`\n`, `\r\n` or `\r`).
pub fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&bytes[start..=i]);
                start = i + 1;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') { i + 1 } else { i };
                lines.push(&bytes[start..=end]);
                i = end;
                start = end + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push(&bytes[start..]);
    }
    lines
}

/// The md5 of `bytes` in lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a checked file goes below the destination: its normalised path in the
/// sources, or its file name when the path is absolute or leaves the sources.
fn stored_name(path: &str) -> PathBuf {
    let p = Path::new(path);
    let base = || PathBuf::from(p.file_name().unwrap_or(p.as_os_str()));
    if p.is_absolute() {
        return base();
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir if parts.pop().is_none() => return base(),
            _ => {}
        }
    }
    if parts.is_empty() {
        return base();
    }
    parts.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_python() {
        assert_eq!(split_lines(b"a\nb\r\nc\rd"), [&b"a\n"[..], b"b\r\n", b"c\r", b"d"]);
        assert_eq!(split_lines(b""), Vec::<&[u8]>::new());
        assert_eq!(split_lines(b"\n\n"), [&b"\n"[..], b"\n"]);
    }

    #[test]
    fn md5_of_known_text() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"hello\n"), "b1946ac92492d2347c6235b4d2611184");
    }

    #[test]
    fn stored_names() {
        assert_eq!(stored_name("COPYING"), Path::new("COPYING"));
        assert_eq!(stored_name("./doc//../archival/LICENSE"), Path::new("archival/LICENSE"));
        assert_eq!(stored_name("/usr/share/common-licenses/MIT"), Path::new("MIT"));
        assert_eq!(stored_name("../outside/COPYING"), Path::new("COPYING"));
    }
}
