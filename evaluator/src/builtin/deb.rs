//! The `package-deb` built-in (package_deb.bbclass `do_package_write_deb`): write each
//! package split by `do_package` as a Debian binary package.
//!
//! A `.deb` is an `ar` archive of `debian-binary` (`2.0`), `control.tar.<c>` (the
//! `control` file) and `data.tar.<c>` (the package's files), `<c>` per
//! `DEB_COMPRESSION`. Every tar entry is owned by `root:root` and carries
//! `SOURCE_DATE_EPOCH` as its time (the store keeps no times, so clamping the times
//! found on disk would make the bytes depend on how the input was materialised);
//! entries are sorted by name (symbolic links last, as `dpkg-deb` orders them) and
//! hard links are stored as separate files, for the same reason. So the same package contents give the same bytes on every machine.
//! `Installed-Size` is, as package_deb.bbclass computes it, the sum over every
//! non-directory entry of its size rounded up to KiB.

pub mod archive;
pub mod control;
pub mod read;
pub mod version;

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::package::tree::{self, TreeError};
use archive::{AR_MAGIC, Compression, TarWriter, write_ar_member};
use control::{ControlError, DebControl};

/// The `package-deb` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// `${PKGDEST}`: one directory per package.
    pub pkgdest: PathBuf,
    /// `${DEB_DEPLOYDIR}/${PACKAGE_ARCH}`: where the `.deb` files go.
    pub deploy_dir: PathBuf,
    pub compression: Compression,
    /// The time of every archive entry and member.
    pub source_date_epoch: u64,
    /// `PACKAGES`, in order.
    pub packages: Vec<DebPackage>,
}

/// One package to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebPackage {
    /// The `.deb` file name (`<package>_<version>_<arch>.deb`).
    pub file_name: String,
    /// `ALLOW_EMPTY:<package>`: write it even when it has no files.
    pub allow_empty: bool,
    pub control: DebControl,
}

/// Why writing a package failed.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("package {package}: {file_name:?} is not a plain file name")]
    FileName { package: String, file_name: String },
    #[error("reading the files of package {package}")]
    Read {
        package: String,
        #[source]
        source: TreeError,
    },
    #[error("package {package}: {} is not a regular file, directory or symbolic link", path.display())]
    FileType { package: String, path: PathBuf },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What was written for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub files: usize,
    pub installed_size: u64,
}

/// Write every package of the request (empty ones only with `allow_empty`).
pub fn run(request: &DebRequest, log: &mut dyn Write) -> Result<Vec<Written>, DebError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DebError::Write { path, source }
    };
    fs::create_dir_all(&request.deploy_dir).map_err(write_err(&request.deploy_dir))?;
    let mut written = Vec::new();
    for package in &request.packages {
        let name = &package.control.package;
        let root = request.pkgdest.join(name);
        let entries = if root.is_dir() {
            tree::walk(&root).map_err(|source| DebError::Read { package: name.clone(), source })?
        } else {
            Vec::new()
        };
        let sizes: Vec<u64> = entries.iter().filter(|e| !e.is_dir()).map(|e| e.meta.len()).collect();
        if sizes.is_empty() && !package.allow_empty {
            let _ = writeln!(log, "NOTE: Not writing {name}: it is empty");
            continue;
        }
        package.control.check()?;
        if package.file_name.is_empty() || package.file_name.contains('/') || package.file_name.starts_with('.') {
            return Err(DebError::FileName { package: name.clone(), file_name: package.file_name.clone() });
        }
        let installed_size = sizes.iter().map(|s| s.div_ceil(1024)).sum();
        let path = request.deploy_dir.join(&package.file_name);
        write_deb(request, package, &entries[entries.len().min(1)..], installed_size, &path)?;
        let _ =
            writeln!(log, "NOTE: Wrote {} ({} files, {installed_size} KiB installed)", package.file_name, sizes.len());
        written.push(Written { path, files: sizes.len(), installed_size });
    }
    Ok(written)
}

/// Write one `.deb` (through a temporary file renamed into place).
fn write_deb(
    request: &DebRequest,
    package: &DebPackage,
    entries: &[tree::Entry],
    installed_size: u64,
    path: &Path,
) -> Result<(), DebError> {
    let name = &package.control.package;
    let mtime = request.source_date_epoch;
    let io_err = |source| DebError::Write { path: path.to_path_buf(), source };

    let control_text = package.control.render(installed_size);
    let control = compressed_tar(request.compression, &request.deploy_dir, mtime, |tar| {
        tar.directory(b"./", 0o755)?;
        tar.file(b"./control", 0o644, control_text.len() as u64, control_text.as_bytes())
    })
    .map_err(io_err)?;

    let mut data_result = Ok(());
    let data = compressed_tar(request.compression, &request.deploy_dir, mtime, |tar| {
        tar.directory(b"./", 0o755)?;
        // As dpkg-deb does: symbolic links after everything else, so a link never has
        // to be followed while the package is unpacked.
        let (links, others): (Vec<&tree::Entry>, Vec<&tree::Entry>) =
            entries.iter().partition(|e| e.meta.file_type().is_symlink());
        for entry in others.into_iter().chain(links) {
            let mut member = b"./".to_vec();
            member.extend_from_slice(entry.relative.as_os_str().as_bytes());
            let mode = std::os::unix::fs::MetadataExt::mode(&entry.meta);
            let kind = entry.meta.file_type();
            if kind.is_dir() {
                member.push(b'/');
                tar.directory(&member, mode)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&entry.path)?;
                tar.symlink(&member, target.as_os_str().as_bytes())?;
            } else if kind.is_file() {
                tar.file(&member, mode, entry.meta.len(), File::open(&entry.path)?)?;
            } else {
                data_result = Err(DebError::FileType { package: name.clone(), path: entry.path.clone() });
                return Err(io::Error::other("unsupported file type"));
            }
        }
        Ok(())
    });
    data_result?;
    let data = data.map_err(io_err)?;

    let suffix = request.compression.suffix();
    let mut out = tempfile::Builder::new()
        .prefix(".deb-")
        .tempfile_in(&request.deploy_dir)
        .map_err(|source| DebError::Write { path: request.deploy_dir.clone(), source })?;
    {
        let mut w = BufWriter::new(out.as_file_mut());
        w.write_all(AR_MAGIC).map_err(io_err)?;
        write_ar_member(&mut w, "debian-binary", mtime, &mut &b"2.0\n"[..], 4).map_err(io_err)?;
        for (member, (mut file, size)) in [("control.tar", control), ("data.tar", data)] {
            write_ar_member(&mut w, &format!("{member}{suffix}"), mtime, &mut file, size).map_err(io_err)?;
        }
        w.flush().map_err(io_err)?;
    }
    out.as_file().set_permissions(fs::Permissions::from_mode(0o644)).map_err(io_err)?;
    out.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// Build a compressed tar stream into an anonymous temporary file in `dir`; returns
/// the file (rewound) and its size.
fn compressed_tar(
    compression: Compression,
    dir: &Path,
    mtime: u64,
    fill: impl FnOnce(&mut TarWriter<archive::Encoder<BufWriter<File>>>) -> io::Result<()>,
) -> io::Result<(File, u64)> {
    let file = tempfile::tempfile_in(dir)?;
    let mut tar = TarWriter::new(compression.encoder(BufWriter::new(file))?, mtime);
    fill(&mut tar)?;
    let buffered = tar.finish()?.finish()?;
    let mut file = buffered.into_inner().map_err(|e| e.into_error())?;
    let size = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok((file, size))
}
