//! The layer that shows a lower directory's entries with their recorded modes.
//!
//! Store checkouts carry no setuid, setgid or world-write bit on the host; a task must
//! still see them (a packaging task reads modes from its lowers). For an overlay whose
//! lower directory has such entries ([`crate::request::RecordedMode`]), init builds a
//! tmpfs holding copies of those entries with their recorded modes and of their parent
//! directories with their own attributes, and stacks it right above that directory.
//! Runs in the sandbox's init, after `fork`, as the task's root: nothing here logs.

use std::ffi::{CStr, CString};
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountAttrFlags;

use crate::request::RecordedMode;

/// A tmpfs holding copies of `modes`' entries of the lower directory `dir`, with their
/// recorded modes, and of their parent directories (each with its owner, mode and
/// times in `dir`, so stacking the layer right above `dir` changes nothing else).
pub(crate) fn build(dir: &OwnedFd, modes: &[&RecordedMode], size: Option<u64>) -> rustix::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // The layer's root is `dir`'s root: same owner, mode and times.
    let top = rustix::fs::fstat(dir)?;
    let number = |n: String| CString::new(n).expect("digits");
    let (mode, uid, gid) =
        (number(format!("{:o}", top.st_mode & 0o7777)), number(top.st_uid.to_string()), number(top.st_gid.to_string()));
    let size = size.map(|s| number(s.to_string()));
    let mut options = vec![(c"mode", mode.as_c_str()), (c"uid", uid.as_c_str()), (c"gid", gid.as_c_str())];
    if let Some(size) = &size {
        options.push((c"size", size.as_c_str()));
    }
    let layer =
        crate::child::new_fs(c"tmpfs", &options, MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV)?;
    let mut made: Vec<(CString, rustix::fs::Stat)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for m in modes {
        let bytes = m.path.as_os_str().as_bytes();
        for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let parent = CString::new(&bytes[..end]).map_err(|_| rustix::io::Errno::INVAL)?;
            copy_entry(dir, &layer, parent, None, &mut made, &mut buf)?;
        }
        let path = CString::new(bytes).map_err(|_| rustix::io::Errno::INVAL)?;
        copy_entry(dir, &layer, path, Some(m.mode), &mut made, &mut buf)?;
    }
    // Directories' times last: creating their entries changed them.
    for (path, st) in made.iter().rev() {
        set_times_like(&layer, path, st)?;
    }
    set_times_like(&layer, c"", &top)?;
    Ok(layer)
}

/// Copies the entry `path` of `dir` (a directory: only itself; a regular file: its
/// contents) into `layer` with its owner and `mode` (else its own mode). Directories
/// are remembered in `made` (made once; their times are set by the caller).
fn copy_entry(
    dir: &OwnedFd,
    layer: &OwnedFd,
    path: CString,
    mode: Option<u32>,
    made: &mut Vec<(CString, rustix::fs::Stat)>,
    buf: &mut [u8],
) -> rustix::io::Result<()> {
    use rustix::fs::{AtFlags, ResolveFlags};
    if made.iter().any(|(p, _)| *p == path) {
        return Ok(());
    }
    let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let source = rustix::fs::openat2(
        dir,
        path.as_c_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
        beneath,
    )?;
    let st = rustix::fs::fstat(&source)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => rustix::fs::mkdirat(layer, path.as_c_str(), Mode::from_raw_mode(0o700))?,
        libc::S_IFREG => {
            let copy = rustix::fs::openat2(
                layer,
                path.as_c_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
                beneath,
            )?;
            loop {
                let n = rustix::io::read(&source, &mut *buf)?;
                if n == 0 {
                    break;
                }
                crate::sys::write_all(&copy, &buf[..n])?;
            }
        }
        _ => return Err(rustix::io::Errno::INVAL),
    }
    // Owner first: a new owner clears setuid bits.
    rustix::fs::chownat(
        layer,
        path.as_c_str(),
        Some(rustix::process::Uid::from_raw(st.st_uid)),
        Some(rustix::process::Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    let mode = mode.unwrap_or(st.st_mode & 0o7777);
    rustix::fs::chmodat(layer, path.as_c_str(), Mode::from_raw_mode(mode), AtFlags::empty())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        made.push((path, st));
        Ok(())
    } else {
        set_times_like(layer, &path, &st)
    }
}

/// Gives `path` beneath `layer` (`layer` itself when empty) the times of `st`.
fn set_times_like(layer: &OwnedFd, path: &CStr, st: &rustix::fs::Stat) -> rustix::io::Result<()> {
    let flags = match path.is_empty() {
        true => rustix::fs::AtFlags::EMPTY_PATH,
        false => rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    };
    let time = |sec: i64, nsec: i64| rustix::fs::Timespec { tv_sec: sec, tv_nsec: nsec as _ };
    rustix::fs::utimensat(
        layer,
        path,
        &rustix::fs::Timestamps {
            last_access: time(st.st_atime, st.st_atime_nsec as i64),
            last_modification: time(st.st_mtime, st.st_mtime_nsec as i64),
        },
        flags,
    )
}
