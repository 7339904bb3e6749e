//! Security tests of `rstore sandbox run`: each asserts the specific failure seen inside.
//!
//! Needs user namespaces (root, or an unprivileged user where the kernel allows them) and
//! python3 on the host (it is bound read-only with /usr, as a layer's host tools are).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn rstore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rstore"));
    command.arg("-q");
    command
}

/// `rstore sandbox run ARGS -- sh -c SCRIPT`; the command's output (stderr joined to
/// stdout, in order) is rstore's output.
fn sandbox_sh(args: &[&str], script: &str) -> Output {
    let script = format!("exec 2>&1; {script}");
    rstore().args(["sandbox", "run"]).args(args).args(["--", "sh", "-c", &script]).output().expect("rstore runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Runs `script`, which must print exactly `expected` (stdout and stderr interleaved).
fn assert_inside(args: &[&str], script: &str, expected: &str) {
    let output = sandbox_sh(args, script);
    assert_eq!(text(&output), expected, "script: {script}");
}

fn python(args: &[&str], code: &str) -> String {
    let output =
        rstore().args(["sandbox", "run"]).args(args).args(["--", "python3", "-c", code]).output().expect("rstore runs");
    text(&output)
}

/// Gives `path` to the tasks' ids, as the store does with the inputs it checks out for
/// tasks (a root caller's tasks run as a range of their own, to which host root is
/// nobody), so what refuses a write below is the read-only mount, not the owner.
fn give_to_tasks(path: &Path) {
    if let Some((uid, gid)) = rstore_sandbox::shifted_ids(rstore_sandbox::HostFacts::current()) {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn host_processes_matching(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn host_secrets_home_and_checkout_are_invisible() {
    assert_inside(&[], "cat /etc/shadow", "cat: /etc/shadow: No such file or directory\n");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert_inside(&[], &format!("ls {home}"), &format!("ls: cannot access '{home}': No such file or directory\n"));
    let checkout = std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    assert_inside(
        &[],
        &format!("ls {checkout}/Cargo.toml"),
        &format!("ls: cannot access '{checkout}/Cargo.toml': No such file or directory\n"),
    );
}

#[test]
fn store_content_that_is_not_an_input_is_invisible() {
    let store = tempfile::tempdir().unwrap();
    let declared = store.path().join("checkouts/aaaa");
    let other = store.path().join("checkouts/bbbb");
    std::fs::create_dir_all(&declared).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(declared.join("lib.a"), "declared\n").unwrap();
    std::fs::write(other.join("secret"), "not an input\n").unwrap();
    let ro = format!("{}:/build/inputs/aaaa", declared.display());
    assert_inside(
        &["--ro", &ro],
        &format!("cat /build/inputs/aaaa/lib.a; cat /build/inputs/aaaa/../bbbb/secret; cat {}/secret", other.display()),
        &format!(
            "declared\ncat: /build/inputs/aaaa/../bbbb/secret: No such file or directory\ncat: {}/secret: No such file or directory\n",
            other.display()
        ),
    );
}

#[test]
fn writes_outside_writable_dirs_fail() {
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("file"), "input\n").unwrap();
    give_to_tasks(&input.path().join("file"));
    let ro = format!("{}:/build/input", input.path().display());
    assert_inside(
        &["--ro", &ro],
        "touch /usr/pwned; touch /pwned; touch /etc/pwned; echo x >> /etc/passwd; touch /build/input/pwned; \
         echo x >> /build/input/file; touch /proc/pwned; echo ok > /build/work/fine && cat /build/work/fine",
        "touch: cannot touch '/usr/pwned': Read-only file system\n\
         touch: cannot touch '/pwned': Read-only file system\n\
         touch: cannot touch '/etc/pwned': Read-only file system\n\
         sh: 1: cannot create /etc/passwd: Read-only file system\n\
         touch: cannot touch '/build/input/pwned': Read-only file system\n\
         sh: 1: cannot create /build/input/file: Read-only file system\n\
         touch: cannot touch '/proc/pwned': No such file or directory\n\
         ok\n",
    );
    assert_eq!(std::fs::read_to_string(input.path().join("file")).unwrap(), "input\n");
    assert!(!Path::new("/usr/pwned").exists());
}

#[test]
fn symlinks_planted_in_inputs_do_not_reach_the_host() {
    let base = tempfile::tempdir().unwrap();
    let input = base.path().join("input");
    let target = base.path().join("host-target");
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, input.join("absolute")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", input.join("relative")).unwrap();
    let ro = format!("{}:/build/input", input.display());
    assert_inside(
        &["--ro", &ro],
        "echo x > /build/input/absolute/pwned; echo x > /build/input/relative/pwned; cat /build/input/relative/shadow",
        &format!(
            "sh: 1: cannot create /build/input/absolute/pwned: Directory nonexistent\n\
             sh: 1: cannot create /build/input/relative/pwned: Read-only file system\n\
             cat: /build/input/relative/shadow: No such file or directory\n{}",
            ""
        ),
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "nothing was written through the symlink");
}

#[test]
fn proc_self_root_and_init_root_give_no_way_out() {
    assert_inside(
        &[],
        "echo x > /proc/self/root/usr/pwned; echo x > /proc/self/root/pwned; ls /proc/1/root/; readlink /proc/self/root",
        "sh: 1: cannot create /proc/self/root/usr/pwned: Read-only file system\n\
         sh: 1: cannot create /proc/self/root/pwned: Read-only file system\n\
         ls: cannot access '/proc/1/root/': Permission denied\n/\n",
    );
}

#[test]
fn host_loopback_tcp_is_unreachable_without_network() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\nexcept OSError as e:\n    print(type(e).__name__, e.errno)"
    );
    assert_eq!(python(&[], &code), "ConnectionRefusedError 111\n");

    // The same probe with the host network does connect: the test can fail.
    listener.set_nonblocking(false).unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(b"hi");
    });
    assert_eq!(python(&["--network"], &code), "connected\n");
    server.join().unwrap();
}

#[test]
fn host_abstract_unix_sockets_are_unreachable() {
    let name = format!("rstore-test-{}", std::process::id());
    let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let code = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0{name}'); print('connected')\nexcept OSError as e:\n    print(type(e).__name__, e.errno)"
    );
    // Own network namespace: the name does not exist there.
    assert_eq!(python(&[], &code), "ConnectionRefusedError 111\n");
    // Host network: landlock's scoping (ABI 6) refuses it.
    assert_eq!(python(&["--network"], &code), "PermissionError 1\n");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nobody connected");
}

#[test]
fn host_processes_cannot_be_seen_or_signalled() {
    struct Victim(std::process::Child);
    impl Drop for Victim {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut victim = Victim(Command::new("sleep").arg("3141").stdout(std::process::Stdio::null()).spawn().unwrap());
    let pid = victim.0.id();
    let output = sandbox_sh(&[], &format!("kill -9 {pid}; cat /proc/{pid}/cmdline; ls /proc | grep -c '^[0-9]'"));
    // Only the namespace's init, the shell and ls/grep exist inside.
    let out = text(&output);
    let mut lines = out.lines().filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("sh: 1: kill: No such process"), "{out}");
    assert_eq!(lines.next(), Some(format!("cat: /proc/{pid}/cmdline: No such file or directory").as_str()), "{out}");
    let count: u32 = lines.next().unwrap().parse().unwrap();
    assert!(count <= 5, "{count} processes visible inside: {out}");
    assert!(victim.0.try_wait().unwrap().is_none(), "the host process is alive");
}

#[test]
fn mount_ptrace_and_new_namespaces_are_refused() {
    let code = "import ctypes, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        os.mkdir('/tmp/m')\n\
        print('mount', libc.mount(b'none', b'/tmp/m', b'tmpfs', 0, None), os.strerror(ctypes.get_errno()))\n\
        print('ptrace', libc.ptrace(16, 1, 0, 0), os.strerror(ctypes.get_errno()))\n\
        print('unshare-user', libc.unshare(0x10000000), os.strerror(ctypes.get_errno()))\n\
        print('unshare-mount', libc.unshare(0x00020000), os.strerror(ctypes.get_errno()))\n\
        print('chroot', libc.chroot(b'/tmp'), os.strerror(ctypes.get_errno()))\n\
        print('sethostname', libc.sethostname(b'x', 1), os.strerror(ctypes.get_errno()))";
    assert_eq!(
        python(&[], code),
        "mount -1 Operation not permitted\n\
         ptrace -1 Operation not permitted\n\
         unshare-user -1 No space left on device\n\
         unshare-mount -1 Operation not permitted\n\
         chroot -1 Operation not permitted\n\
         sethostname -1 Operation not permitted\n"
    );
}

#[test]
fn limits_cannot_be_raised() {
    let code = "import resource\n\
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
        try:\n    resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1, hard + 1)); print('raised')\n\
        except (ValueError, OSError) as e:\n    print(e)\n\
        try:\n    resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, 1 << 20)); print('raised')\n\
        except (ValueError, OSError) as e:\n    print(e)";
    assert_eq!(python(&[], code), "not allowed to raise maximum limit\nnot allowed to raise maximum limit\n");
}

#[test]
fn read_only_inputs_keep_their_mode_and_owner() {
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("file");
    std::fs::write(&file, "x").unwrap();
    give_to_tasks(&file);
    let before = std::fs::metadata(&file).unwrap();
    let ro = format!("{}:/build/input", input.path().display());
    assert_inside(
        &["--ro", &ro],
        "chmod 777 /build/input/file; chown 1234:1234 /build/input/file; touch -d 2001-01-01 /build/input/file",
        "chmod: changing permissions of '/build/input/file': Read-only file system\n\
         chown: changing ownership of '/build/input/file': Read-only file system\n\
         touch: cannot touch '/build/input/file': Read-only file system\n",
    );
    let after = std::fs::metadata(&file).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (before.mode(), before.uid(), before.gid(), before.mtime()),
        (after.mode(), after.uid(), after.gid(), after.mtime())
    );
}

#[test]
fn daemonised_processes_die_with_their_task() {
    let output = sandbox_sh(
        &[],
        "setsid sh -c 'sleep 3142 &' ; nohup sleep 3143 >/dev/null 2>&1 & (sleep 3144 &); echo started",
    );
    assert_eq!(text(&output), "started\n");
    assert!(output.status.success());
    for marker in ["sleep 3142", "sleep 3143", "sleep 3144"] {
        assert_eq!(host_processes_matching(marker), Vec::<String>::new(), "{marker} outlived its task");
    }
}

#[test]
fn a_fork_bomb_ends_with_a_clear_error_and_leaves_the_host_alone() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let output = rstore()
        .args(["sandbox", "run", "--max-procs", "64", "--timeout", "5", "--json", "--log"])
        .arg(log.path())
        .args(["--", "sh", "-c", "bomb(){ bomb | bomb & }; bomb; sleep 3145"])
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON outcome");
    // Forks fail at the task's process limit; the task then ends by its time limit, or
    // earlier when its main shell itself cannot fork. Either way it is a failure whose log
    // says why, and nothing survives.
    let mut text = String::new();
    std::fs::File::open(log.path()).unwrap().read_to_string(&mut text).unwrap();
    assert!(text.contains("Cannot fork"), "forks failed at the limit: {text}");
    match outcome["termination"]["kind"].as_str() {
        Some("timed-out") => assert_eq!(output.status.code(), Some(124)),
        Some("exited") => assert_ne!(outcome["termination"]["code"], 0, "{outcome}"),
        _ => panic!("unexpected outcome {outcome}"),
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(host_processes_matching("bomb | bomb"), Vec::<String>::new());
    assert!(Command::new("true").status().unwrap().success(), "the host can still start processes");
}

#[test]
fn a_memory_hog_ends_with_a_clear_error() {
    let output = rstore()
        .args(["sandbox", "run", "--memory", "256M", "--json", "--", "python3", "-c", "x = bytearray(1 << 30)"])
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON outcome");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match outcome["enforcement"]["memory"].as_str() {
        // Per-process address-space limit: the allocation fails inside.
        Some("address-space-rlimit") => {
            assert_eq!(outcome["termination"], serde_json::json!({"kind": "exited", "code": 1}));
            assert!(stderr.contains("MemoryError"), "{stderr}");
        }
        // cgroup: the OOM killer ends the task and the outcome says why.
        Some("cgroup") => {
            assert_eq!(outcome["limit_hit"], "memory", "{outcome}");
        }
        other => panic!("memory limit not enforced: {other:?}"),
    }
    // The tmpfs dirs are capped too: at their size (the memory limit) without a cgroup;
    // with one, their pages count as the task's memory and the task ends at its limit.
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap();
    let output =
        sandbox_sh(&["--memory", "16M", "--json", "--log", log_path], "head -c 32M /dev/zero > /tmp/big; echo $?");
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON outcome");
    match outcome["enforcement"]["memory"].as_str() {
        Some("address-space-rlimit") => assert_eq!(
            std::fs::read_to_string(log.path()).unwrap(),
            "head: error writing 'standard output': No space left on device\n1\n"
        ),
        _ => assert_eq!(outcome["limit_hit"], "memory", "{outcome}"),
    }
}

#[test]
fn a_syscall_filter_refuses_what_builds_never_need() {
    let code = "import ctypes, fcntl, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        def call(name, nr, *args):\n    r = libc.syscall(nr, *args); print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else '')\n\
        print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n\
        call('io_uring_setup', 425, 1, ctypes.create_string_buffer(120))\n\
        call('keyctl', 250, 0, -3)\n\
        call('add_key', 248, b'user', b'k', b'v', 1, -3)\n\
        call('bpf', 321, 0, 0, 0)\n\
        call('userfaultfd', 323, 0)\n\
        call('perf_event_open', 298, 0, 0, -1, -1, 0)\n\
        try:\n    fcntl.ioctl(0, 0x5412, b'x'); print('TIOCSTI ok')\n\
        except OSError as e:\n    print('TIOCSTI', os.strerror(e.errno))\n\
        call('getppid', 110)";
    assert_eq!(
        python(&[], code),
        "2\n\
         io_uring_setup -1 Function not implemented\n\
         keyctl -1 Operation not permitted\n\
         add_key -1 Operation not permitted\n\
         bpf -1 Operation not permitted\n\
         userfaultfd -1 Operation not permitted\n\
         perf_event_open -1 Operation not permitted\n\
         TIOCSTI Operation not permitted\n\
         getppid 1 \n"
    );
}

#[test]
fn clocks_start_near_zero_in_a_time_namespace() {
    if !Path::new("/proc/self/ns/time").exists() {
        eprintln!("SKIPPED: the kernel has no time namespaces");
        return;
    }
    let host: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split(' ').next().unwrap().parse().unwrap();
    let output = sandbox_sh(&[], "cut -d' ' -f1 /proc/uptime");
    let inside: f64 = text(&output).trim().parse().unwrap_or_else(|_| panic!("{}", text(&output)));
    assert!(inside < 60.0, "the task sees an uptime of {inside} s (host: {host} s)");
}

#[test]
fn a_task_flooding_its_log_is_killed_at_the_limit() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let output = rstore()
        .args(["sandbox", "run", "--log-size", "1M", "--json", "--log"])
        .arg(log.path())
        .args(["--", "sh", "-c", "yes flooding"])
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON outcome");
    assert_eq!(outcome["limit_hit"], "log", "{outcome}");
    assert_eq!(std::fs::metadata(log.path()).unwrap().len(), 1 << 20);
}

#[test]
fn filling_tmp_fails_the_task_at_its_tmpfs_size() {
    let output = sandbox_sh(&["--tmpfs-size", "8M"], "head -c 16M /dev/zero > /tmp/big; echo $?; df -k /tmp | tail -1");
    let text = text(&output);
    assert!(text.starts_with("head: error writing 'standard output': No space left on device\n1\n"), "{text}");
    assert!(text.contains(" 8192 "), "/tmp is not 8 MiB: {text}");
}
#[test]
fn the_callers_keys_are_not_in_the_tasks_keyring() {
    // A key in this process's session keyring, readable by its owner.
    let add_key = |description: &str| -> i64 {
        let (kind, desc, payload) = (c"user", std::ffi::CString::new(description).unwrap(), b"secret");
        // SAFETY: NUL-terminated strings and a payload of the length passed; the kernel only reads them.
        unsafe {
            libc::syscall(
                libc::SYS_add_key,
                kind.as_ptr(),
                desc.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                -3i32, /* KEY_SPEC_SESSION_KEYRING */
            )
        }
    };
    if add_key("rstore-test-secret") < 0 {
        eprintln!("SKIPPED: the caller cannot add a key (no keyrings here): {}", std::io::Error::last_os_error());
        return;
    }
    let output = sandbox_sh(&[], "grep -c rstore-test-secret /proc/keys; true");
    assert_eq!(text(&output), "0\n", "the caller's key is visible to the task");
}

#[test]
fn files_a_task_chowns_belong_to_its_own_range_on_the_host() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let rw = format!("{}:/o", dir.path().display());
    let output = sandbox_sh(
        &["--rw", &rw],
        "touch /o/f; chown 1234:1234 /o/f; mkdir -m 1777 /o/shared; touch /o/s; chmod 4755 /o/s; ls -ln /o | tail -n +2 | awk '{print $1, $3, $4, $9}'",
    );
    assert_eq!(text(&output), "-rw-r--r-- 1234 1234 f\n-rwsr-xr-x 0 0 s\ndrwxrwxrwt 0 0 shared\n");
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let meta = |name: &str| std::fs::symlink_metadata(dir.path().join(name)).unwrap();
    if me == 0 {
        // Never a host user's id: the range's first id plus the id inside.
        let base = meta("s").uid();
        assert!(base >= 65536, "a task's root is host uid {base}");
        assert_eq!((meta("f").uid(), meta("f").gid()), (base + 1234, meta("s").gid() + 1234));
    } else {
        assert_eq!(meta("s").uid(), me, "inside root is the caller");
    }
}

/// A task kept to one CPU cannot take the others back with `sched_setaffinity` where a
/// cpuset holds it (cgroup v2 with the controller delegated, or a writable v1 hierarchy).
#[test]
fn a_task_cannot_widen_its_cpus_beyond_its_cpuset() {
    let host = rstore_sandbox::HostFacts::current();
    if host.cpus.len() < 2 {
        eprintln!("SKIPPED: this process may run on one CPU only, so there is none to widen to");
        return;
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let code = "import os\n\
        before = len(os.sched_getaffinity(0))\n\
        os.sched_setaffinity(0, range(1024))\n\
        print(before, len(os.sched_getaffinity(0)), os.cpu_count() > 1)";
    let output = rstore()
        .args(["sandbox", "run", "--jobs", "1", "--json", "--log"])
        .arg(log.path())
        .args(["--", "python3", "-c", code])
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON outcome");
    let printed = std::fs::read_to_string(log.path()).unwrap();
    match outcome["enforcement"]["cpus"].as_str() {
        Some("cgroup") => assert_eq!(printed, "1 1 True\n", "{outcome}"),
        Some("affinity-mask") => {
            assert_eq!(printed, format!("1 {} True\n", host.cpus.len()), "the mask is widened, as the warning says");
            eprintln!(
                "SKIPPED: the cpuset part (no cpuset controller this process can use; the task widened its mask)"
            );
        }
        other => panic!("CPUs not limited: {other:?} {outcome}"),
    }
}
