//! Reading a `.deb`: its control paragraph and a stream of its data archive.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::archive::{ArError, ArMember, Compression, ar_members};
use super::control::{Paragraph, ParagraphError};

/// Why a `.deb` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebReadError {
    #[error("reading {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {}", path.display())]
    Ar {
        path: PathBuf,
        #[source]
        source: ArError,
    },
    #[error("{} is not a Debian binary package: {problem}", path.display())]
    Format { path: PathBuf, problem: &'static str },
    #[error(
        "{}: its Package name {name:?} is not a Debian package name (lower-case letters, digits, `+`, `-`, `.`)",
        path.display()
    )]
    PackageName { path: PathBuf, name: String },
    #[error("{}: its control file cannot be read", path.display())]
    Control {
        path: PathBuf,
        #[source]
        source: ParagraphError,
    },
}

/// An opened `.deb`.
#[derive(Debug)]
pub struct DebFile {
    pub path: PathBuf,
    pub control: Paragraph,
    file: File,
    data: (ArMember, Compression),
}

impl DebFile {
    /// Open a `.deb` and read its control paragraph.
    pub fn open(path: &Path) -> Result<DebFile, DebReadError> {
        let io_err = |source| DebReadError::Io { path: path.to_path_buf(), source };
        let format = |problem| DebReadError::Format { path: path.to_path_buf(), problem };
        let mut file = File::open(path).map_err(io_err)?;
        let members = ar_members(&mut file).map_err(|source| DebReadError::Ar { path: path.to_path_buf(), source })?;
        let Some(first) = members.first().filter(|m| m.name == "debian-binary") else {
            return Err(format("its first member is not debian-binary"));
        };
        let mut version = String::new();
        member_reader(&mut file, first).map_err(io_err)?.take(16).read_to_string(&mut version).map_err(io_err)?;
        if !version.starts_with("2.") {
            return Err(format("debian-binary does not say format 2.x"));
        }
        let find =
            |stem: &str| members.iter().find_map(|m| Compression::from_member(&m.name, stem).map(|c| (m.clone(), c)));
        let control_member = find("control.tar").ok_or_else(|| format("it has no control.tar member"))?;
        let data = find("data.tar").ok_or_else(|| format("it has no data.tar member"))?;

        let text = control_text(&mut file, &control_member)
            .map_err(io_err)?
            .ok_or_else(|| format("its control.tar has no control file"))?;
        let control =
            Paragraph::parse(&text).map_err(|source| DebReadError::Control { path: path.to_path_buf(), source })?;
        for field in ["Package", "Version", "Architecture"] {
            if control.get(field).is_none_or(str::is_empty) {
                return Err(format("its control file lacks Package, Version or Architecture"));
            }
        }
        // The name becomes a path in the root file system's dpkg database
        // (`var/lib/dpkg/info/<package>.list`): `../../x` must go no further.
        let name = control.get("Package").unwrap_or_default();
        if !super::control::valid_package_name(name) {
            return Err(DebReadError::PackageName { path: path.to_path_buf(), name: name.to_owned() });
        }
        Ok(DebFile { path: path.to_path_buf(), control, file, data })
    }

    /// The package name.
    pub fn package(&self) -> &str {
        self.control.get("Package").unwrap_or_default()
    }

    /// The version.
    pub fn version(&self) -> &str {
        self.control.get("Version").unwrap_or_default()
    }

    /// The architecture.
    pub fn architecture(&self) -> &str {
        self.control.get("Architecture").unwrap_or_default()
    }

    /// The data archive, decompressed, as a tar stream.
    pub fn data(&mut self) -> Result<tar::Archive<Box<dyn Read + '_>>, DebReadError> {
        let io_err = |source| DebReadError::Io { path: self.path.clone(), source };
        let (member, compression) = self.data.clone();
        let reader = member_reader(&mut self.file, &member).map_err(io_err)?;
        Ok(tar::Archive::new(compression.decoder(reader).map_err(io_err)?))
    }
}

/// The text of `./control` in the control archive.
fn control_text(file: &mut File, (member, compression): &(ArMember, Compression)) -> io::Result<Option<String>> {
    let reader = member_reader(file, member)?;
    let mut archive = tar::Archive::new(compression.decoder(reader)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path_bytes().into_owned();
        if name == b"./control" || name == b"control" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// A reader of exactly one member's bytes.
fn member_reader<'a>(file: &'a mut File, member: &ArMember) -> io::Result<impl Read + 'a> {
    file.seek(SeekFrom::Start(member.offset))?;
    Ok(BufReader::new(file.take(member.size)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A `.deb` made with `ar` and `tar` (not by rstore, which checks names when it writes).
    fn deb_named(dir: &Path, package: &str) -> PathBuf {
        let work = dir.join("work");
        std::fs::create_dir_all(work.join("data/usr")).unwrap();
        std::fs::create_dir_all(work.join("control")).unwrap();
        std::fs::write(work.join("debian-binary"), "2.0\n").unwrap();
        std::fs::write(
            work.join("control/control"),
            format!("Package: {package}\nVersion: 1.0\nArchitecture: amd64\nDescription: x\n"),
        )
        .unwrap();
        let run = |cmd: &mut Command| assert!(cmd.current_dir(&work).status().unwrap().success(), "{cmd:?}");
        run(Command::new("tar").args(["-czf", "control.tar.gz", "-C", "control", "."]));
        run(Command::new("tar").args(["-czf", "data.tar.gz", "-C", "data", "."]));
        let deb = dir.join("evil.deb");
        run(Command::new("ar").arg("rc").arg(&deb).args(["debian-binary", "control.tar.gz", "data.tar.gz"]));
        deb
    }

    #[test]
    fn a_package_name_that_is_a_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = deb_named(&dir.path().join("good"), "busybox");
        assert_eq!(DebFile::open(&good).unwrap().package(), "busybox");
        for name in ["../../x", "a/b", "..", "UPPER"] {
            let deb = deb_named(&dir.path().join(name.replace('/', "_")), name);
            match DebFile::open(&deb) {
                Err(DebReadError::PackageName { name: found, .. }) => assert_eq!(found, name),
                other => panic!("{name:?}: {other:?}"),
            }
        }
    }
}
