//! Writable host directories are handed to the task's ids.
//!
//! A root caller's tasks run as a range of host ids of their own (see
//! [`crate::plan::shifted_ids`]); to that range, host root is nobody. A directory the task
//! may write (a writable bind, an overlay's upper and work directories) must therefore
//! belong to the range's root, or the task could not create a file in it. The first time
//! a directory is handed over (its owner is outside the range), everything beneath it is
//! handed over too, so files an earlier build left (a download's lock file) stay
//! writable; later, what is beneath was made by tasks and is in the range already.
//!
//! The walk goes by descriptors (`openat` with `O_NOFOLLOW`, `fchownat` with
//! `AT_SYMLINK_NOFOLLOW`): a symlink planted in the directory is changed itself, never
//! followed to a host file.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::process::{Gid, Uid};

/// The host ids of a task range: `count` ids from (`uid`, `gid`).
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub uid: u32,
    pub gid: u32,
    pub count: u32,
}

impl Range {
    fn holds(&self, uid: u32, gid: u32) -> bool {
        uid.wrapping_sub(self.uid) < self.count && gid.wrapping_sub(self.gid) < self.count
    }
}

/// Gives `path` to the range's root; the first time, everything beneath it too.
pub fn adopt(path: &Path, range: Range) -> io::Result<()> {
    let stat = rustix::fs::lstat(path)?;
    if range.holds(stat.st_uid, stat.st_gid) {
        return Ok(());
    }
    chown_at(rustix::fs::CWD, path.as_os_str(), range)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(());
    }
    let dir =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    adopt_beneath(dir, range)
}

fn chown_at<Fd: std::os::fd::AsFd>(dir: Fd, name: &OsStr, range: Range) -> io::Result<()> {
    rustix::fs::chownat(
        dir,
        name,
        Some(Uid::from_raw(range.uid)),
        Some(Gid::from_raw(range.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

fn adopt_beneath(dir: OwnedFd, range: Range) -> io::Result<()> {
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let entries = rustix::fs::Dir::read_from(&dir)?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        for name in names {
            let name = OsStr::from_bytes(&name);
            let stat = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            if !range.holds(stat.st_uid, stat.st_gid) {
                chown_at(&dir, name, range)?;
            }
            if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
                let child = rustix::fs::openat(
                    &dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                pending.push(child);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_tree_is_handed_over_once_and_symlinks_are_not_followed() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIPPED: handing files to another id needs root");
            return;
        }
        let host = tempfile::tempdir().unwrap();
        let outside = host.path().join("host-file");
        std::fs::write(&outside, "host").unwrap();
        let dir = host.path().join("downloads");
        std::fs::create_dir_all(dir.join("git2/repo")).unwrap();
        std::fs::write(dir.join("git2/repo/HEAD"), "ref").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        let range = Range { uid: 0x5000_0000, gid: 0x5000_0000, count: 65536 };
        adopt(&dir, range).unwrap();
        for path in [dir.clone(), dir.join("git2/repo"), dir.join("git2/repo/HEAD")] {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (range.uid, range.gid), "{}", path.display());
        }
        assert_eq!(std::fs::symlink_metadata(dir.join("link")).unwrap().uid(), range.uid);
        assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0, "the symlink was followed");

        // Once handed over, what is beneath is the tasks' business: ids in the range stay.
        rustix::fs::chown(dir.join("git2/repo/HEAD"), Some(Uid::from_raw(range.uid + 7)), None).unwrap();
        adopt(&dir, range).unwrap();
        assert_eq!(std::fs::metadata(dir.join("git2/repo/HEAD")).unwrap().uid(), range.uid + 7);
    }
}
