//! The system-call filter every task runs under.
//!
//! A deny-list, at least as strict as Nix's and systemd-nspawn's for what a build can
//! reach: kernel surfaces a build never needs and attackers love (`io_uring`, `bpf`,
//! `userfaultfd`, `perf_event_open`, the kernel keyring), tracing and cross-process memory
//! access (`ptrace`, `process_vm_*`, `pidfd_getfd`), and everything that administers the
//! machine (modules, kexec, reboot, swap, clocks, accounting, quotas, mounts, namespaces
//! by descriptor), plus `ioctl(TIOCSTI)`/`TIOCLINUX` that push input into a terminal.
//! Most of the administrative calls already fail for want of capabilities; the filter
//! makes that independent of any capability or kernel bug. Denied calls fail with `EPERM`,
//! except the `io_uring` family, which fails with `ENOSYS` so programs fall back to
//! ordinary I/O as on a kernel without it.
//!
//! On x86-64 the same list is applied to 32-bit (`int 0x80`) calls with their own
//! numbers; the x32 ABI and any other architecture are refused outright (`ENOSYS`).
//! The filter is built here as classic BPF from plain data ([`denied`]) and installed by
//! the command process after `no_new_privs`, just before `execve`.

use serde::Serialize;

/// A system call the filter refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Denied {
    /// The call's name.
    pub name: &'static str,
    /// The error it returns.
    pub errno: Errno,
    /// Its number in the native ABI (absent when the architecture has no such call).
    #[serde(skip)]
    pub native: Option<u32>,
    /// Its number in the 32-bit compat ABI (x86-64 only).
    #[serde(skip)]
    pub compat: Option<u32>,
}

/// The error a denied call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Errno {
    /// "Operation not permitted".
    Eperm,
    /// "Function not implemented": the caller falls back as on an older kernel.
    Enosys,
}

impl Errno {
    fn raw(self) -> u32 {
        match self {
            Errno::Eperm => libc::EPERM as u32,
            Errno::Enosys => libc::ENOSYS as u32,
        }
    }
}

/// `ioctl` requests refused: they inject input into, or reconfigure, a terminal.
pub const DENIED_IOCTLS: [(&str, u32); 2] = [("TIOCSTI", 0x5412), ("TIOCLINUX", 0x541C)];

macro_rules! deny {
    ($name:ident, $errno:ident, $compat:expr) => {
        Denied { name: stringify!($name), errno: Errno::$errno, native: native!($name), compat: $compat }
    };
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! native {
    (kexec_file_load) => {
        Some(libc::SYS_kexec_file_load as u32)
    };
    ($name:ident) => {
        native_generic!($name)
    };
}

// Calls the generic (aarch64) table lacks: the legacy x86 ones.
#[cfg(target_arch = "x86_64")]
macro_rules! native_generic {
    ($name:ident) => {
        Some(paste_sys!($name) as u32)
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! native_generic {
    (uselib) => {
        None
    };
    (ioperm) => {
        None
    };
    (iopl) => {
        None
    };
    (umount) => {
        None
    };
    ($name:ident) => {
        Some(paste_sys!($name) as u32)
    };
}
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
macro_rules! native {
    ($name:ident) => {
        None
    };
}

macro_rules! paste_sys {
    (ptrace) => {
        libc::SYS_ptrace
    };
    (process_vm_readv) => {
        libc::SYS_process_vm_readv
    };
    (process_vm_writev) => {
        libc::SYS_process_vm_writev
    };
    (pidfd_getfd) => {
        libc::SYS_pidfd_getfd
    };
    (io_uring_setup) => {
        libc::SYS_io_uring_setup
    };
    (io_uring_enter) => {
        libc::SYS_io_uring_enter
    };
    (io_uring_register) => {
        libc::SYS_io_uring_register
    };
    (bpf) => {
        libc::SYS_bpf
    };
    (userfaultfd) => {
        libc::SYS_userfaultfd
    };
    (perf_event_open) => {
        libc::SYS_perf_event_open
    };
    (keyctl) => {
        libc::SYS_keyctl
    };
    (add_key) => {
        libc::SYS_add_key
    };
    (request_key) => {
        libc::SYS_request_key
    };
    (init_module) => {
        libc::SYS_init_module
    };
    (finit_module) => {
        libc::SYS_finit_module
    };
    (delete_module) => {
        libc::SYS_delete_module
    };
    (kexec_load) => {
        libc::SYS_kexec_load
    };
    (reboot) => {
        libc::SYS_reboot
    };
    (swapon) => {
        libc::SYS_swapon
    };
    (swapoff) => {
        libc::SYS_swapoff
    };
    (acct) => {
        libc::SYS_acct
    };
    (quotactl) => {
        libc::SYS_quotactl
    };
    (syslog) => {
        libc::SYS_syslog
    };
    (settimeofday) => {
        libc::SYS_settimeofday
    };
    (clock_settime) => {
        libc::SYS_clock_settime
    };
    (clock_adjtime) => {
        libc::SYS_clock_adjtime
    };
    (adjtimex) => {
        libc::SYS_adjtimex
    };
    (lookup_dcookie) => {
        libc::SYS_lookup_dcookie
    };
    (open_by_handle_at) => {
        libc::SYS_open_by_handle_at
    };
    (fanotify_init) => {
        libc::SYS_fanotify_init
    };
    (setns) => {
        libc::SYS_setns
    };
    (mount) => {
        libc::SYS_mount
    };
    (umount2) => {
        libc::SYS_umount2
    };
    (pivot_root) => {
        libc::SYS_pivot_root
    };
    (open_tree) => {
        libc::SYS_open_tree
    };
    (move_mount) => {
        libc::SYS_move_mount
    };
    (fsopen) => {
        libc::SYS_fsopen
    };
    (fsconfig) => {
        libc::SYS_fsconfig
    };
    (fsmount) => {
        libc::SYS_fsmount
    };
    (fspick) => {
        libc::SYS_fspick
    };
    (mount_setattr) => {
        libc::SYS_mount_setattr
    };
    (vhangup) => {
        libc::SYS_vhangup
    };
    (uselib) => {
        libc::SYS_uselib
    };
    (ioperm) => {
        libc::SYS_ioperm
    };
    (getrandom) => {
        libc::SYS_getrandom
    };
    (iopl) => {
        libc::SYS_iopl
    };
}

/// Every call the filter refuses, with its numbers on this architecture.
pub fn denied() -> Vec<Denied> {
    vec![
        // Tracing and other processes' memory.
        deny!(ptrace, Eperm, Some(26)),
        deny!(process_vm_readv, Eperm, Some(347)),
        deny!(process_vm_writev, Eperm, Some(348)),
        deny!(pidfd_getfd, Eperm, Some(438)),
        // Kernel attack surface a build never needs.
        deny!(io_uring_setup, Enosys, Some(425)),
        deny!(io_uring_enter, Enosys, Some(426)),
        deny!(io_uring_register, Enosys, Some(427)),
        deny!(bpf, Eperm, Some(357)),
        deny!(userfaultfd, Eperm, Some(374)),
        deny!(perf_event_open, Eperm, Some(336)),
        // The kernel keyring (the task has a session keyring of its own and may not use it).
        deny!(keyctl, Eperm, Some(288)),
        deny!(add_key, Eperm, Some(286)),
        deny!(request_key, Eperm, Some(287)),
        // Administering the machine.
        deny!(init_module, Eperm, Some(128)),
        deny!(finit_module, Eperm, Some(350)),
        deny!(delete_module, Eperm, Some(129)),
        deny!(kexec_load, Eperm, Some(283)),
        deny!(kexec_file_load, Eperm, None),
        deny!(reboot, Eperm, Some(88)),
        deny!(swapon, Eperm, Some(87)),
        deny!(swapoff, Eperm, Some(115)),
        deny!(acct, Eperm, Some(51)),
        deny!(quotactl, Eperm, Some(131)),
        deny!(syslog, Eperm, Some(103)),
        deny!(settimeofday, Eperm, Some(79)),
        deny!(clock_settime, Eperm, Some(264)),
        deny!(clock_adjtime, Eperm, Some(343)),
        deny!(adjtimex, Eperm, Some(124)),
        deny!(lookup_dcookie, Eperm, Some(253)),
        deny!(open_by_handle_at, Eperm, Some(342)),
        deny!(fanotify_init, Eperm, Some(338)),
        deny!(vhangup, Eperm, Some(111)),
        deny!(uselib, Eperm, Some(86)),
        deny!(ioperm, Eperm, Some(101)),
        deny!(iopl, Eperm, Some(110)),
        // Mounts and namespaces: the task's root is final.
        deny!(setns, Eperm, Some(346)),
        deny!(mount, Eperm, Some(21)),
        deny!(umount2, Eperm, Some(52)),
        deny!(pivot_root, Eperm, Some(217)),
        deny!(open_tree, Eperm, Some(428)),
        deny!(move_mount, Eperm, Some(429)),
        deny!(fsopen, Eperm, Some(430)),
        deny!(fsconfig, Eperm, Some(431)),
        deny!(fsmount, Eperm, Some(432)),
        deny!(fspick, Eperm, Some(433)),
        deny!(mount_setattr, Eperm, Some(442)),
    ]
}

/// What a task with pinned randomness is refused besides [`denied`]: `getrandom` fails
/// with `ENOSYS`, so libc, Python and Rust fall back to reading `/dev/urandom`, which
/// then is a fixed stream (see [`crate::Conditions::pinned_randomness`]).
pub fn denied_with_pinned_randomness() -> Vec<Denied> {
    let mut list = denied();
    list.push(deny!(getrandom, Enosys, Some(355)));
    list
}

/// The architecture tags of `seccomp_data.arch`.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// x32 system calls are x86-64 calls with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `socket` numbers (native, compat), and the compat `socketcall` multiplexer, whose
/// arguments are in memory where a filter cannot read them.
#[cfg(target_arch = "x86_64")]
const SOCKET: (u32, Option<u32>) = (libc::SYS_socket as u32, Some(359));
#[cfg(target_arch = "aarch64")]
const SOCKET: (u32, Option<u32>) = (libc::SYS_socket as u32, None);
const COMPAT_SOCKETCALL: u32 = 102;
/// `AF_UNIX`.
const AF_UNIX: u32 = 1;
/// `ioctl` numbers (native, compat).
#[cfg(target_arch = "x86_64")]
const IOCTL: (u32, Option<u32>) = (libc::SYS_ioctl as u32, Some(54));
#[cfg(target_arch = "aarch64")]
const IOCTL: (u32, Option<u32>) = (libc::SYS_ioctl as u32, None);

/// The architecture this filter is for, when rstore knows its system-call tables.
pub fn native_arch() -> Option<u32> {
    if cfg!(target_arch = "x86_64") {
        Some(AUDIT_ARCH_X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(AUDIT_ARCH_AARCH64)
    } else {
        None
    }
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Instruction {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Offsets in `struct seccomp_data`: nr, arch, then args[] (low half of arg 1 at 24 on
/// little-endian machines, the only ones built for).
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG0_LOW: u32 = 16;
const OFFSET_ARG1_LOW: u32 = 24;

fn load(offset: u32) -> Instruction {
    Instruction { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset }
}
fn ret(value: u32) -> Instruction {
    Instruction { code: BPF_RET_K, jt: 0, jf: 0, k: value }
}
fn errno(e: Errno) -> Instruction {
    ret(SECCOMP_RET_ERRNO | e.raw())
}
/// Skip the next instruction unless the accumulator equals `k`.
fn if_equal(k: u32) -> Instruction {
    Instruction { code: BPF_JEQ_K, jt: 0, jf: 1, k }
}

/// The filter program refusing `denied` on this architecture, or `None` where rstore
/// does not know the system-call numbers. With `unix_sockets_denied`, `socket(AF_UNIX,
/// …)` fails with `EPERM` too (and 32-bit `socketcall`): for a task on the host's network
/// where landlock cannot confine abstract unix sockets to the sandbox (ABI < 6), which
/// would otherwise reach every abstract socket of the host.
pub fn program(denied: &[Denied], unix_sockets_denied: bool) -> Option<Vec<Instruction>> {
    let arch = native_arch()?;
    let table = |compat: bool| -> Vec<Instruction> {
        let mut out = vec![load(OFFSET_NR)];
        if !compat && arch == AUDIT_ARCH_X86_64 {
            // x32: refused as a whole.
            out.push(Instruction { code: BPF_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT });
            out.push(errno(Errno::Enosys));
        }
        for call in denied {
            if let Some(nr) = if compat { call.compat } else { call.native } {
                out.push(if_equal(nr));
                out.push(errno(call.errno));
            }
        }
        if unix_sockets_denied {
            if compat {
                out.push(if_equal(COMPAT_SOCKETCALL));
                out.push(errno(Errno::Eperm));
            }
            if let Some(nr) = if compat { SOCKET.1 } else { Some(SOCKET.0) } {
                // if nr == socket { load arg0; AF_UNIX → EPERM; allow }
                out.push(Instruction { code: BPF_JEQ_K, jt: 0, jf: 4, k: nr });
                out.push(load(OFFSET_ARG0_LOW));
                out.push(if_equal(AF_UNIX));
                out.push(errno(Errno::Eperm));
                out.push(ret(SECCOMP_RET_ALLOW));
            }
        }
        let ioctl = if compat { IOCTL.1 } else { Some(IOCTL.0) };
        if let Some(nr) = ioctl {
            // if nr == ioctl { load arg1; each denied request → EPERM }; allow.
            let checks = DENIED_IOCTLS.len() as u8 * 2;
            out.push(Instruction { code: BPF_JEQ_K, jt: 0, jf: checks + 1, k: nr });
            out.push(load(OFFSET_ARG1_LOW));
            for (_, request) in DENIED_IOCTLS {
                out.push(if_equal(request));
                out.push(errno(Errno::Eperm));
            }
        }
        out.push(ret(SECCOMP_RET_ALLOW));
        out
    };
    let native = table(false);
    let mut program = vec![load(OFFSET_ARCH)];
    if arch == AUDIT_ARCH_X86_64 {
        let compat = table(true);
        // arch == native → native table; arch == i386 → compat table; else ENOSYS.
        program.push(Instruction { code: BPF_JEQ_K, jt: 2, jf: 0, k: arch });
        program.push(Instruction { code: BPF_JEQ_K, jt: 1 + native_len(&native)?, jf: 0, k: AUDIT_ARCH_I386 });
        program.push(errno(Errno::Enosys));
        program.extend(native);
        program.extend(compat);
    } else {
        program.push(Instruction { code: BPF_JEQ_K, jt: 1, jf: 0, k: arch });
        program.push(errno(Errno::Enosys));
        program.extend(native);
    }
    Some(program)
}

/// A jump over the native table must fit BPF's 8-bit offsets.
fn native_len(native: &[Instruction]) -> Option<u8> {
    u8::try_from(native.len()).ok()
}

/// Installs `program` on the calling thread (after `no_new_privs`). Safe to call in a
/// freshly forked child: it allocates nothing.
pub fn install(program: &[Instruction]) -> std::io::Result<()> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const Instruction,
    }
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    let len = u16::try_from(program.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?;
    let prog = SockFprog { len, filter: program.as_ptr() };
    // SAFETY: `prog` points at `len` live instructions for the duration of the call; the
    // kernel copies the program and writes nothing back.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0 as libc::c_uint, &prog as *const SockFprog)
    };
    if ret < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// Gives the calling process a new, empty session keyring, so nothing of the caller's
/// keys is reachable (before the filter forbids the keyring calls).
pub fn join_new_session_keyring() -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a null name asks for a new anonymous keyring; the kernel reads no memory.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<libc::c_char>()) };
    if ret < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on a `seccomp_data` like the kernel's BPF interpreter would.
    fn evaluate(program: &[Instruction], nr: u32, arch: u32, arg1: u64) -> u32 {
        evaluate_args(program, nr, arch, [0, arg1])
    }

    /// `evaluate` with the first two arguments.
    fn evaluate_args(program: &[Instruction], nr: u32, arch: u32, args: [u64; 2]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&args[0].to_le_bytes());
        data[24..32].copy_from_slice(&args[1].to_le_bytes());
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = program[pc];
            match i.code {
                BPF_LD_W_ABS => acc = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap()),
                BPF_RET_K => return i.k,
                BPF_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                other => panic!("unexpected instruction {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn the_filter_denies_the_list_and_allows_the_rest() {
        let Some(program) = program(&denied(), false) else { return };
        let arch = native_arch().unwrap();
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        assert_eq!(evaluate(&program, libc::SYS_keyctl as u32, arch, 0), eperm);
        assert_eq!(evaluate(&program, libc::SYS_io_uring_setup as u32, arch, 0), enosys);
        assert_eq!(evaluate(&program, libc::SYS_ptrace as u32, arch, 0), eperm);
        assert_eq!(evaluate(&program, libc::SYS_read as u32, arch, 0), SECCOMP_RET_ALLOW);
        assert_eq!(evaluate(&program, libc::SYS_openat as u32, arch, 0), SECCOMP_RET_ALLOW);
        assert_eq!(evaluate(&program, libc::SYS_ioctl as u32, arch, 0x5412), eperm);
        assert_eq!(evaluate(&program, libc::SYS_ioctl as u32, arch, 0x5401), SECCOMP_RET_ALLOW, "TCGETS");
        // The upper half of the argument does not matter to the kernel's ioctl either.
        assert_eq!(evaluate(&program, libc::SYS_ioctl as u32, arch, 0x1_0000_5412), eperm);
        assert_eq!(evaluate(&program, 0, 0x1234, 0), enosys, "a foreign architecture");
        if arch == AUDIT_ARCH_X86_64 {
            assert_eq!(evaluate(&program, X32_SYSCALL_BIT | 1, arch, 0), enosys, "x32");
            assert_eq!(evaluate(&program, 288, AUDIT_ARCH_I386, 0), eperm, "i386 keyctl");
            assert_eq!(evaluate(&program, 425, AUDIT_ARCH_I386, 0), enosys, "i386 io_uring_setup");
            assert_eq!(evaluate(&program, 54, AUDIT_ARCH_I386, 0x5412), eperm, "i386 TIOCSTI");
            assert_eq!(evaluate(&program, 3, AUDIT_ARCH_I386, 0), SECCOMP_RET_ALLOW, "i386 read");
        }
    }

    #[test]
    fn pinned_randomness_refuses_getrandom_only_then() {
        let Some(arch) = native_arch() else { return };
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let usual = program(&denied(), false).unwrap();
        let pinned = program(&denied_with_pinned_randomness(), false).unwrap();
        let nr = libc::SYS_getrandom as u32;
        assert_eq!(evaluate(&usual, nr, arch, 0), SECCOMP_RET_ALLOW);
        assert_eq!(evaluate(&pinned, nr, arch, 0), enosys);
        if arch == AUDIT_ARCH_X86_64 {
            assert_eq!(evaluate(&pinned, 355, AUDIT_ARCH_I386, 0), enosys, "i386 getrandom");
        }
    }

    #[test]
    fn unix_sockets_are_refused_only_when_asked() {
        let Some(arch) = native_arch() else { return };
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let (usual, strict) = (program(&denied(), false).unwrap(), program(&denied(), true).unwrap());
        let socket = libc::SYS_socket as u32;
        let (unix, inet) = (libc::AF_UNIX as u64, libc::AF_INET as u64);
        assert_eq!(evaluate_args(&usual, socket, arch, [unix, 1]), SECCOMP_RET_ALLOW);
        assert_eq!(evaluate_args(&strict, socket, arch, [unix, 1]), eperm);
        assert_eq!(evaluate_args(&strict, socket, arch, [inet, 1]), SECCOMP_RET_ALLOW);
        assert_eq!(evaluate_args(&strict, libc::SYS_socketpair as u32, arch, [unix, 1]), SECCOMP_RET_ALLOW);
        // The rest of the filter is unchanged.
        assert_eq!(evaluate_args(&strict, libc::SYS_keyctl as u32, arch, [0, 0]), eperm);
        assert_eq!(evaluate_args(&strict, libc::SYS_ioctl as u32, arch, [0, 0x5412]), eperm);
        assert_eq!(evaluate_args(&strict, libc::SYS_read as u32, arch, [0, 0]), SECCOMP_RET_ALLOW);
        if arch == AUDIT_ARCH_X86_64 {
            assert_eq!(evaluate_args(&strict, 359, AUDIT_ARCH_I386, [unix, 1]), eperm, "i386 socket");
            assert_eq!(evaluate_args(&strict, 359, AUDIT_ARCH_I386, [inet, 1]), SECCOMP_RET_ALLOW);
            assert_eq!(evaluate_args(&strict, 102, AUDIT_ARCH_I386, [1, 0]), eperm, "i386 socketcall");
            assert_eq!(evaluate_args(&usual, 102, AUDIT_ARCH_I386, [1, 0]), SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn every_denied_call_has_a_native_number_or_is_absent_here() {
        let names: Vec<_> = denied().iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a call is listed twice");
    }
}
