//! The dpkg database of a root file system: `var/lib/dpkg/status` with one
//! `install ok installed` paragraph per package (sorted by name) and
//! `var/lib/dpkg/info/<package>.list` with its files and `<package>.md5sums` with
//! the md5 of each regular file (as dpkg records them when a package ships none), so
//! `dpkg --root=ROOTFS -l`, `-L`, `-S`, `--verify` and `--audit` work on the result
//! and further packages can be installed with `dpkg --root=ROOTFS -i`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::builtin::deb::control::Paragraph;

/// The database's directory, relative to the root.
pub const DPKG_DIR: &str = "var/lib/dpkg";

/// One installed package.
#[derive(Debug, Clone)]
pub struct Installed {
    pub control: Paragraph,
    /// Its files as listed in `info/<package>.list`, and the md5 of its regular files.
    pub files: super::extract::Unpacked,
}

/// Writing the database failed.
#[derive(Debug, thiserror::Error)]
#[error("writing the dpkg database: {}", path.display())]
pub struct DbError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Write the database for `packages` (sorted by name by the caller).
pub fn write(root: &Path, packages: &[(String, Installed)]) -> Result<(), DbError> {
    let dir = root.join(DPKG_DIR);
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DbError { path, source }
    };
    for sub in ["info", "updates", "triggers", "alternatives"] {
        fs::create_dir_all(dir.join(sub)).map_err(at(&dir.join(sub)))?;
    }
    let mut status = String::new();
    for (name, installed) in packages {
        let mut fields =
            vec![("Package".to_owned(), name.clone()), ("Status".to_owned(), "install ok installed".to_owned())];
        fields.extend(
            installed
                .control
                .fields
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("Package") && !n.eq_ignore_ascii_case("Status"))
                .cloned(),
        );
        status.push_str(&Paragraph { fields }.render());
        status.push('\n');
        let list = dir.join("info").join(format!("{name}.list"));
        let text: String = installed.files.list.iter().map(|f| format!("{f}\n")).collect();
        fs::write(&list, text).map_err(at(&list))?;
        let sums = dir.join("info").join(format!("{name}.md5sums"));
        let text: String = installed.files.md5sums.iter().map(|(md5, path)| format!("{md5}  {path}\n")).collect();
        fs::write(&sums, text).map_err(at(&sums))?;
    }
    for (file, text) in [("status", status.as_str()), ("available", ""), ("diversions", ""), ("statoverride", "")] {
        let path = dir.join(file);
        fs::write(&path, text).map_err(at(&path))?;
    }
    let format = dir.join("info/format");
    fs::write(&format, "1\n").map_err(at(&format))?;
    Ok(())
}
