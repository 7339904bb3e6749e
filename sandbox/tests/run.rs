//! The sandbox for real: namespaces, mounts, landlock, limits, logs (needs user namespaces).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rstore_sandbox::{CancelHandle, Error, Mount, Outcome, Request, Sink, Termination, WorkDir};

struct Task {
    request: Request,
    _dirs: tempfile::TempDir,
    work: PathBuf,
    log: PathBuf,
}

/// `sh -c script` with the host tools, a fresh work dir and one log for stdout + stderr.
fn task(script: &str) -> Task {
    let dirs = tempfile::tempdir().unwrap();
    let work = dirs.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let log = dirs.path().join("log");
    let mut request = Request::new("sh", ["-c", script]).with_host_tools();
    request.work_dir = WorkDir::Host(work.clone());
    request.stdout = Sink::File(log.clone());
    request.stderr = Sink::File(log.clone());
    Task { request, _dirs: dirs, work, log }
}

/// Gives `path` to the tasks' ids (a root caller's tasks run as a range of their own,
/// to which host root is nobody), as the store does with the checkouts it hands to tasks.
fn give_to_tasks(path: &std::path::Path) {
    if let Some((uid, gid)) = rstore_sandbox::shifted_ids(rstore_sandbox::HostFacts::current()) {
        rustix::fs::chownat(
            rustix::fs::CWD,
            path,
            Some(rustix::process::Uid::from_raw(uid)),
            Some(rustix::process::Gid::from_raw(gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

impl Task {
    fn run(&self) -> (Outcome, String) {
        let outcome = rstore_sandbox::run(&self.request, &CancelHandle::new().unwrap()).expect("sandbox runs");
        (outcome, std::fs::read_to_string(&self.log).unwrap_or_default())
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
fn environment_ids_and_names_are_fixed() {
    let script = "grep -E '^Sig(Blk|Ign)' /proc/self/status; id -u; id -g; uname -n; cat /proc/sys/kernel/domainname; umask; nproc; pwd; echo HOME=$HOME; \
                  env | sort; cat /etc/passwd /etc/group; ls /";
    let mut first = task(script);
    first.request.parallelism = Some(1);
    first.request.source_date_epoch = Some(42);
    first.request.env.insert("FOO".into(), "bar".into());
    let (outcome, log) = first.run();
    assert!(outcome.success(), "{outcome}: {log}");
    let expected = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n0\nrstore\n(none)\n0022\n1\n/build/work\nHOME=/build/home\n\
        FOO=bar\nHOME=/build/home\nLC_ALL=C\nPATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin\n\
        PWD=/build/work\nSOURCE_DATE_EPOCH=42\nTZ=UTC\n\
        root:x:0:0:root:/build/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        root:x:0:\nnogroup:x:65534:\n";
    assert!(log.starts_with(expected), "got:\n{log}");
    // The root holds only what the sandbox and the request put there.
    let root: Vec<&str> = log[expected.len()..].lines().collect();
    for name in &root {
        assert!(
            ["bin", "build", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"]
                .contains(name),
            "unexpected /{name} in the sandbox root: {root:?}"
        );
    }

    // Same request from another host directory and with another host env: same output.
    let mut second = task(script);
    second.request.parallelism = Some(1);
    second.request.source_date_epoch = Some(42);
    second.request.env.insert("FOO".into(), "bar".into());
    assert_ne!(first.work, second.work);
    assert_eq!(second.run().1, log);
}

#[test]
fn stdout_and_stderr_share_one_log_in_order_or_go_to_separate_files() {
    let (outcome, log) = task("echo one; echo two >&2; echo three; echo four > /dev/stderr").run();
    assert!(outcome.success());
    assert_eq!(log, "one\ntwo\nthree\nfour\n");
    assert_eq!(outcome.logs.len(), 1);

    let mut split = task("echo out; echo err >&2");
    let err_log = split.log.with_file_name("err");
    split.request.stderr = Sink::File(err_log.clone());
    let (outcome, out) = split.run();
    assert_eq!(out, "out\n");
    assert_eq!(std::fs::read_to_string(&err_log).unwrap(), "err\n");
    assert_eq!(outcome.logs, vec![split.log.clone(), err_log]);
}

#[test]
fn a_failing_command_is_an_outcome() {
    let (outcome, _) = task("exit 7").run();
    assert_eq!(outcome.termination, Termination::Exited { code: 7 });
    assert_eq!(outcome.exit_code(), 7);
    let (outcome, _) = task("kill -SEGV $$").run();
    assert_eq!(outcome.termination, Termination::Signaled { signal: libc_sigsegv() });
    assert_eq!(outcome.exit_code(), 128 + libc_sigsegv());
    assert!(outcome.duration > Duration::ZERO);
}

fn libc_sigsegv() -> i32 {
    11
}

#[test]
fn a_missing_program_or_input_is_an_error_that_says_which() {
    let mut missing = task("true");
    missing.request.program = "no-such-program".into();
    let err = rstore_sandbox::run(&missing.request, &CancelHandle::new().unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::Exec { program, source } if program == "no-such-program" && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );

    let mut missing_input = task("true");
    missing_input.request = missing_input.request.ro("/nonexistent/input", "/build/input");
    let err = rstore_sandbox::run(&missing_input.request, &CancelHandle::new().unwrap()).unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert_eq!(
        text,
        "sandbox setup failed while opening the host side of /nonexistent/input at /build/input: No such file or directory (os error 2)"
    );
}

#[test]
fn timeout_kills_the_whole_process_tree() {
    let mut slow = task("setsid sleep 3133 & (sleep 3134 &) ; sleep 3135");
    slow.request.limits.time = Some(Duration::from_millis(500));
    let started = Instant::now();
    let (outcome, _) = slow.run();
    assert!(matches!(outcome.termination, Termination::TimedOut { .. }), "{outcome}");
    assert_eq!(outcome.limit_hit, Some(rstore_sandbox::LimitHit::Time));
    assert_eq!(outcome.exit_code(), 124);
    assert!(started.elapsed() < Duration::from_secs(60));
    for marker in ["sleep 3133", "sleep 3134", "sleep 3135"] {
        assert_eq!(host_processes_matching(marker), Vec::<String>::new(), "{marker} survived its task");
    }
}

#[test]
fn cancel_from_another_thread_kills_the_task() {
    let sleeper = task("sleep 3136");
    let cancel = CancelHandle::new().unwrap();
    let canceller = cancel.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        canceller.cancel();
    });
    let started = Instant::now();
    let outcome = rstore_sandbox::run(&sleeper.request, &cancel).unwrap();
    thread.join().unwrap();
    assert_eq!(outcome.termination, Termination::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(host_processes_matching("sleep 3136").is_empty());
    assert!(cancel.is_cancelled());
}

#[test]
fn chown_works_for_packaging() {
    let (outcome, log) = task("touch f && chown 1000:1001 f && chmod 4755 f && stat -c '%u:%g %a' f").run();
    assert!(outcome.success(), "{log}");
    assert_eq!(log, "1000:1001 4755\n");
}

#[test]
fn writes_land_in_the_work_dir_and_writable_dirs_only() {
    let mut t = task("echo data > out && echo more > /build/extra/file && echo tmp > /tmp/x && echo home > $HOME/y");
    let extra = t.work.with_file_name("extra");
    std::fs::create_dir(&extra).unwrap();
    t.request.mounts.push(Mount::Writable { host: extra.clone(), inside: "/build/extra".into() });
    let (outcome, log) = t.run();
    assert!(outcome.success(), "{log}");
    assert_eq!(std::fs::read_to_string(t.work.join("out")).unwrap(), "data\n");
    assert_eq!(std::fs::read_to_string(extra.join("file")).unwrap(), "more\n");
}

#[test]
fn overlay_work_dir_leaves_the_lower_dir_untouched() {
    let base = tempfile::tempdir().unwrap();
    let lower = base.path().join("lower");
    let upper = base.path().join("upper");
    let scratch = base.path().join("scratch");
    for dir in [&lower, &upper, &scratch] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(lower.join("a"), "from lower\n").unwrap();
    give_to_tasks(&lower);
    give_to_tasks(&lower.join("a"));
    let mut t = task("cat a && echo changed > a && echo new > b && cat a b");
    t.request.work_dir = WorkDir::Overlay { lower: vec![lower.clone()], upper: upper.clone(), work: scratch };
    let (outcome, log) = t.run();
    assert!(outcome.success(), "{log}");
    assert_eq!(log, "from lower\nchanged\nnew\n");
    assert_eq!(std::fs::read_to_string(lower.join("a")).unwrap(), "from lower\n");
    assert!(!lower.join("b").exists());
    assert_eq!(std::fs::read_to_string(upper.join("a")).unwrap(), "changed\n");
    assert_eq!(std::fs::read_to_string(upper.join("b")).unwrap(), "new\n");
}

/// Store checkouts hold no setuid bit or world-writable directory on the host; the
/// task still sees the recorded modes (copies on a layer right above the lower dir),
/// with every other attribute of the lower dir, and changes nothing on the host.
#[test]
fn recorded_modes_are_shown_inside_without_being_on_the_host() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let base = tempfile::tempdir().unwrap();
    let (top, lower, upper, scratch) =
        (base.path().join("top"), base.path().join("lower"), base.path().join("upper"), base.path().join("scratch"));
    for dir in [&top, &lower, &upper, &scratch, &lower.join("bin"), &lower.join("tmp"), &lower.join("usr/sbin")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(lower.join("bin/su"), "#!/bin/sh\necho su\n").unwrap();
    std::fs::write(lower.join("usr/sbin/plain"), "plain\n").unwrap();
    std::fs::write(top.join("above"), "above\n").unwrap();
    std::fs::set_permissions(lower.join("bin/su"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(lower.join("usr/sbin"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let paths = ["top", "top/above", "lower", "lower/bin", "lower/bin/su", "lower/tmp", "lower/usr", "lower/usr/sbin"];
    for path in paths.into_iter().chain(["lower/usr/sbin/plain"]) {
        give_to_tasks(&base.path().join(path));
        rstore_store_times(&base.path().join(path));
    }
    let modes = vec![
        rstore_sandbox::RecordedMode { lower: 1, path: "bin/su".into(), mode: 0o4755 },
        rstore_sandbox::RecordedMode { lower: 1, path: "tmp".into(), mode: 0o1777 },
        rstore_sandbox::RecordedMode { lower: 1, path: "usr/sbin/plain".into(), mode: 0o2755 },
    ];
    // (The root of a writable overlay is its upper dir, with that dir's times.)
    let script = "cd /build/o; stat -c '%a %Y %n' bin bin/su tmp usr usr/sbin usr/sbin/plain above; cat bin/su; \
                  touch -d @7 usr/sbin/plain; stat -c '%a %Y %n' usr/sbin/plain; \
                  cd /build/r; stat -c '%a %Y %n' . bin/su tmp; touch x 2>&1 | sed 's/.*: //'; \
                  ls -a /";
    let mut t = task(script);
    t.request.mounts.push(Mount::Overlay {
        lower: vec![top.clone(), lower.clone()],
        upper: upper.clone(),
        work: scratch,
        inside: "/build/o".into(),
        modes: modes.clone(),
    });
    t.request.mounts.push(Mount::Layers {
        lower: vec![top.clone(), lower.clone()],
        inside: "/build/r".into(),
        modes: modes.clone(),
    });
    let (outcome, log) = t.run();
    assert!(outcome.success(), "{log}");
    let expected = "755 1 bin\n4755 1 bin/su\n1777 1 tmp\n755 1 usr\n750 1 usr/sbin\n2755 1 usr/sbin/plain\n644 1 above\n\
        #!/bin/sh\necho su\n2755 7 usr/sbin/plain\n\
        755 1 .\n4755 1 bin/su\n1777 1 tmp\nRead-only file system\n";
    assert!(log.starts_with(expected), "got:\n{log}");
    assert!(!log.contains("rstore-recorded-modes"), "the layers' mount points are left in the root:\n{log}");
    // The host's files keep their modes; the change went to the upper dir.
    let mode = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    assert_eq!((mode(&lower.join("bin/su")), mode(&lower.join("tmp"))), (0o755, 0o755));
    assert_eq!(std::fs::read_to_string(upper.join("usr/sbin/plain")).unwrap(), "plain\n");
    assert_eq!(std::fs::metadata(upper.join("usr/sbin/plain")).unwrap().mode() & 0o7777, 0o2755);
}

/// Sets a path's times to 1 s after the epoch, as store checkouts have them.
fn rstore_store_times(path: &std::path::Path) {
    let t = rustix::fs::Timespec { tv_sec: 1, tv_nsec: 0 };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A recorded mode must name a plain path of one of the overlay's lower dirs.
#[test]
fn recorded_modes_outside_their_lower_dir_are_refused() {
    let base = tempfile::tempdir().unwrap();
    for (path, lower) in [("../x", 0), ("/etc/passwd", 0), ("a", 1), ("", 0)] {
        let mut t = task("true");
        t.request.mounts.push(Mount::Layers {
            lower: vec![base.path().to_owned()],
            inside: "/build/r".into(),
            modes: vec![rstore_sandbox::RecordedMode { lower, path: path.into(), mode: 0o4755 }],
        });
        let err = rstore_sandbox::run(&t.request, &CancelHandle::new().unwrap()).unwrap_err();
        let source = std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default();
        assert!(source.contains("is not a plain path of one of its lower directories"), "{path}: {err}: {source}");
    }
}

#[test]
fn a_uid_other_than_root_runs_without_capabilities() {
    let mut t = task("id -u; id -g; grep CapEff /proc/self/status; touch /build/work/x 2>&1 | sed 's/.*: //'");
    t.request.uid = 1000;
    t.request.gid = 1000;
    let (outcome, log) = t.run();
    assert!(outcome.success(), "{log}");
    assert_eq!(log, "1000\n1000\nCapEff:\t0000000000000000\nPermission denied\n");
}

#[test]
fn nested_mount_points_refuse_planted_symlinks() {
    // An input holding a symlink where a later mount goes must not redirect that mount.
    let base = tempfile::tempdir().unwrap();
    let input = base.path().join("input");
    std::fs::create_dir(&input).unwrap();
    std::os::unix::fs::symlink("/etc", input.join("escape")).unwrap();
    let mut t = task("true");
    t.request.mounts.push(Mount::Writable { host: input.clone(), inside: "/build/in".into() });
    t.request.mounts.push(Mount::Tmpfs { inside: "/build/in/escape/sub".into() });
    let err = rstore_sandbox::run(&t.request, &CancelHandle::new().unwrap()).unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(
        format!("{err}: {source}"),
        "sandbox setup failed while creating /build/in/escape/sub: Not a directory (os error 20)"
    );
}

#[test]
fn single_files_can_be_bound_read_only_or_writable() {
    let mut t = task("cat /build/in.txt; echo appended >> /build/out.txt; echo x >> /build/in.txt");
    let input = t.work.with_file_name("in.txt");
    let output = t.work.with_file_name("out.txt");
    std::fs::write(&input, "input\n").unwrap();
    std::fs::write(&output, "start\n").unwrap();
    give_to_tasks(&input);
    t.request = t.request.ro(&input, "/build/in.txt").rw(&output, "/build/out.txt");
    let (outcome, log) = t.run();
    assert_eq!(outcome.termination, Termination::Exited { code: 2 }, "{log}");
    assert_eq!(log, "input\nsh: 1: cannot create /build/in.txt: Read-only file system\n");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "start\nappended\n");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), "input\n");
}

#[test]
fn parallel_runs_keep_their_output_apart() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let t = task(&format!("for n in 1 2 3; do echo task{i} line$n; done; exit {i}"));
                let (outcome, log) = t.run();
                (i, outcome, log)
            })
        })
        .collect();
    for handle in handles {
        let (i, outcome, log) = handle.join().unwrap();
        assert_eq!(outcome.termination, Termination::Exited { code: i });
        assert_eq!(log, format!("task{i} line1\ntask{i} line2\ntask{i} line3\n"));
    }
}

#[test]
fn generated_files_come_on_a_read_only_tmpfs_without_a_host_path() {
    let mut t = task(
        "cat /run-files/prologue.sh; stat -c '%a %s %n' /run-files/prologue.sh /run-files/empty; \
         grep ' /run-files ' /proc/self/mountinfo | cut -d' ' -f4,5,6,8; \
         echo x > /run-files/prologue.sh || echo refused",
    );
    let files = [("prologue.sh", "echo hello\n"), ("empty", "")];
    t.request.mounts.push(Mount::Files {
        inside: "/run-files".into(),
        files: files.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect(),
    });
    let (outcome, log) = t.run();
    assert!(outcome.success(), "{outcome}: {log}");
    assert_eq!(
        log,
        "echo hello\n644 11 /run-files/prologue.sh\n644 0 /run-files/empty\n/ /run-files ro,nosuid,nodev,relatime tmpfs\n\
         sh: 1: cannot create /run-files/prologue.sh: Read-only file system\nrefused\n"
    );
    for bad in ["", "..", "a/b"] {
        let mut t = task("true");
        t.request
            .mounts
            .push(Mount::Files { inside: "/run-files".into(), files: [(bad.to_string(), String::new())].into() });
        let err = rstore_sandbox::run(&t.request, &CancelHandle::new().unwrap()).unwrap_err();
        assert!(matches!(err, Error::Plan(_)), "{bad:?}: {err}");
    }
}
