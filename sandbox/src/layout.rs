//! The fixed layout and environment every task sees, whatever the host.
//!
//! ```text
//! /                 tmpfs, read-only once assembled
//! ├── build/work    the task's work dir (writable), the default current directory
//! ├── build/home    HOME: a fresh, writable tmpfs
//! ├── dev           tmpfs: null zero full random urandom tty, fd → /proc/self/fd, shm (tmpfs)
//! ├── etc           passwd (root, nobody), group (root, nogroup), hosts
//! ├── proc          the task's own pid namespace (/proc/sys read-only)
//! ├── tmp           fresh tmpfs
//! └── …             the request's mounts at their inside paths (e.g. /usr from the host)
//! ```

/// The task's work dir inside.
pub const WORK_DIR: &str = "/build/work";
/// `HOME` inside: a fresh tmpfs.
pub const HOME: &str = "/build/home";
/// Default host name and NIS domain name.
pub const HOSTNAME: &str = "rstore";
/// NIS domain name inside (what `domainname` prints).
pub const DOMAINNAME: &str = "(none)";
/// `PATH` when the request's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
/// File mode creation mask of the command.
pub const UMASK: u32 = 0o022;
/// Devices bound from the host into `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Size of `/dev/random` and `/dev/urandom` when randomness is pinned: what a program
/// reads past it is end-of-file.
pub const PINNED_RANDOM_BYTES: usize = 256 * 1024;
/// The clock shim (`clock/clock.c`), written to [`CLOCK_SHIM_PATH`] when a task's clock
/// is shifted.
pub const CLOCK_SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rstore-clock.so"));
/// Where the clock shim is inside, and where it reads its offset.
pub const CLOCK_SHIM_PATH: &str = "/etc/rstore-clock.so";
pub const CLOCK_OFFSET_PATH: &str = "/etc/rstore-clock";

/// Personality flags: `uname` reports 2.6.x; no address-space randomisation.
pub const PERSONALITY_UNAME26: u32 = 0x0020000;
pub const PERSONALITY_ADDR_NO_RANDOMIZE: u32 = 0x0040000;

/// The fixed stream `/dev/urandom` gives when randomness is pinned: BLAKE3's extendable
/// output of a fixed key, the same on every machine.
pub fn pinned_random_bytes() -> Vec<u8> {
    let mut out = vec![0u8; PINNED_RANDOM_BYTES];
    blake3::Hasher::new_derive_key("rstore pinned randomness v1").finalize_xof().fill(&mut out);
    out
}

/// Paths a request may not mount over (the sandbox provides them).
pub const RESERVED: [&str; 7] = ["/", "/build/work", "/build/home", "/dev", "/proc", "/tmp", "/etc"];

/// Environment variables the sandbox always sets; a request may not set them differently.
pub fn fixed_env(source_date_epoch: Option<u64>) -> Vec<(&'static str, String)> {
    let mut env = vec![("HOME", HOME.to_owned()), ("LC_ALL", "C".to_owned()), ("TZ", "UTC".to_owned())];
    if let Some(epoch) = source_date_epoch {
        env.push(("SOURCE_DATE_EPOCH", epoch.to_string()));
    }
    env
}

/// `/etc/passwd` inside: root, nobody, and an entry for the request's uid if it is neither.
pub fn passwd(uid: u32, gid: u32) -> String {
    let mut out = format!("root:x:0:0:root:{HOME}:/bin/sh\n");
    if uid != 0 && uid != 65534 {
        out.push_str(&format!("build:x:{uid}:{gid}:build:{HOME}:/bin/sh\n"));
    }
    out.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    out
}

/// `/etc/group` inside: root, nogroup, and a group for the request's gid if it is neither.
pub fn group(gid: u32) -> String {
    let mut out = String::from("root:x:0:\n");
    if gid != 0 && gid != 65534 {
        out.push_str(&format!("build:x:{gid}:\n"));
    }
    out.push_str("nogroup:x:65534:\n");
    out
}

/// `/etc/hosts` inside: localhost and the sandbox's host name on loopback.
pub fn hosts(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}
