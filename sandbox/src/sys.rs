//! The few system calls neither `std` nor `rustix` wraps, each in one small `unsafe` block.
//!
//! Review notes: every function here passes only pointers to live, correctly sized values
//! owned by the caller for the duration of the call, and checks the return value.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(dirfd, path, flags, {attr_set})`: sets mount attributes, recursively
/// with `recursive`. With an empty `path` the mount is `dirfd` itself.
pub fn mount_setattr(dirfd: Option<BorrowedFd<'_>>, path: &CStr, recursive: bool, attr_set: u64) -> io::Result<()> {
    let mut flags = 0;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let attr = MountAttr { attr_set, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: `path` is NUL-terminated and `attr` is a live `struct mount_attr` of the size
    // passed; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Closes every descriptor of this process except 0, 1, 2 and `keep`.
pub fn close_all_except(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut next: u32 = 3;
    for &fd in keep.iter() {
        let Ok(fd) = u32::try_from(fd) else { continue };
        if fd > next {
            close_range(next, fd - 1);
        }
        if fd >= next {
            next = fd + 1;
        }
    }
    close_range(next, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range takes plain integers; closing descriptors nobody else in this
    // (single-threaded, freshly forked) process uses is sound.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, last, 0u32);
    }
}

/// Closes one descriptor by number (in a forked child about to `_exit` or `execve`,
/// whose owning `OwnedFd` is never dropped).
pub fn close_raw(fd: RawFd) {
    // SAFETY: the caller guarantees nothing uses `fd` afterwards in this process.
    unsafe {
        libc::close(fd);
    }
}

/// Restores every signal to its default action and unblocks all signals: dispositions set
/// to "ignore" and the blocked mask survive `execve`, and callers often change them (Rust
/// programs ignore `SIGPIPE`, async runtimes block signals).
pub fn reset_signals() {
    /// The kernel's `struct sigaction` (not the C library's).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `default` is a live kernel sigaction of the size passed; the old action
        // is not requested. Raw, so no signal is refused or remapped by the C library.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
    let empty: u64 = 0;
    // SAFETY: a live 8-byte mask, the kernel's sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
}

/// Marks every descriptor from 3 up close-on-exec.
pub fn cloexec_from_3() {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain integers; only sets FD_CLOEXEC.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
    }
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    let socket = rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::DGRAM, None)?;
    // SAFETY: `ifreq` is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the `ifreq` we pass, which lives
    // across both calls.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Resource usage of a reaped child.
pub struct Reaped {
    /// Raw wait status.
    pub status: i32,
    /// Its `rusage` (including its own waited-for descendants).
    pub usage: libc::rusage,
}

/// `wait4(pid)`, retrying on `EINTR`.
pub fn wait4(pid: libc::pid_t) -> io::Result<Reaped> {
    loop {
        let mut status = 0;
        // SAFETY: `rusage` is plain old data; zeroed is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live locals of the right type.
        let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if ret >= 0 {
            return Ok(Reaped { status, usage });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// `fork()`.
///
/// # Safety
/// In a process with other threads the child may only call async-signal-safe code, or
/// code that is safe after glibc's `fork` (which re-initialises malloc), and must end
/// with `_exit` or `execve`: locks other threads held stay locked in the child.
pub unsafe fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the caller upholds the function's contract.
    let pid = unsafe { libc::fork() };
    if pid < 0 { Err(io::Error::last_os_error()) } else { Ok(pid) }
}

/// Ends this (forked) process immediately, without running destructors or atexit hooks.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `prctl(PR_CAPBSET_DROP, cap)`; `Ok(false)` when the kernel does not know `cap`.
pub fn drop_bounding_cap(cap: u32) -> io::Result<bool> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    if ret == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) { Ok(false) } else { Err(err) }
}

/// Sets effective, permitted and inheritable capabilities to `keep` (bit mask) and clears
/// the ambient set.
pub fn set_capabilities(keep: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header { version: VERSION_3, pid: 0 };
    let low = Data { effective: keep as u32, permitted: keep as u32, inheritable: 0 };
    let high = Data { effective: (keep >> 32) as u32, permitted: (keep >> 32) as u32, inheritable: 0 };
    let data = [low, high];
    // SAFETY: header and the two data structs are live, correctly laid out (version 3 uses
    // two data structs); the kernel only reads them.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `setgroups(0, NULL)`: no supplementary groups.
pub fn clear_groups() -> io::Result<()> {
    // SAFETY: an empty list with a null pointer is valid for setgroups. This is the raw
    // syscall (this thread only), which is all there is in the forked child.
    let ret = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `execve(path, argv, envp)`; returns only on failure.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> io::Error {
    // SAFETY: callers pass NULL-terminated arrays of pointers to NUL-terminated strings
    // that stay alive (they are owned by the caller's stack frame).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Writes all of `bytes` to `fd` (allocates nothing: usable after `fork`).
pub fn write_all(fd: impl std::os::fd::AsFd, bytes: &[u8]) -> rustix::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rustix::io::write(&fd, rest)?;
        rest = &rest[n..];
    }
    Ok(())
}
