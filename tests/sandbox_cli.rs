//! `rstore sandbox run` and `rstore sandbox info` as a user meets them.

use std::process::{Command, Output};

fn rstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstore")).arg("-q").args(args).output().expect("rstore runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn run_exposes_host_tools_and_a_fresh_work_dir_only() {
    let output = rstore(&["sandbox", "run", "--", "sh", "-c", "pwd; ls -A; ls /; touch made-here && echo ok"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/build/work"));
    // The work dir starts empty; the root holds the layout and the host tools only.
    let root: Vec<&str> = lines.by_ref().take_while(|l| *l != "ok").collect();
    for name in &root {
        assert!(
            ["bin", "build", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"]
                .contains(name),
            "unexpected /{name}: {root:?}"
        );
    }
    assert!(root.contains(&"usr") && root.contains(&"bin"), "{root:?}");
}

#[test]
fn exit_codes_pass_through() {
    assert_eq!(rstore(&["sandbox", "run", "--", "sh", "-c", "exit 42"]).status.code(), Some(42));
    assert_eq!(rstore(&["sandbox", "run", "--", "sh", "-c", "kill -TERM $$"]).status.code(), Some(128 + 15));
    assert_eq!(rstore(&["sandbox", "run", "--timeout", "0.3", "--", "sleep", "3150"]).status.code(), Some(124));
    let missing = rstore(&["sandbox", "run", "--", "no-such-tool"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: running `no-such-tool` in the sandbox: cannot execute `no-such-tool` inside the sandbox: No such file or directory (os error 2)\n"
    );
}

#[test]
fn ro_rw_env_and_work_dir_options() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let output_dir = dir.path().join("out");
    let work = dir.path().join("work");
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(&output_dir).unwrap();
    std::fs::write(input.join("greeting"), "hello").unwrap();
    let ro = format!("{}:/build/input", input.display());
    let rw = format!("{}:/build/out", output_dir.display());
    let output = rstore(&[
        "sandbox",
        "run",
        "--ro",
        &ro,
        "--rw",
        &rw,
        "--work",
        work.to_str().unwrap(),
        "-e",
        "WHO=world",
        "-j",
        "1",
        "--source-date-epoch",
        "86400",
        "--",
        "sh",
        "-c",
        "cat /build/input/greeting; echo \" $WHO $(nproc) $SOURCE_DATE_EPOCH\"; cp /build/input/greeting /build/out/copy; echo kept > kept",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "hello world 1 86400\n");
    assert_eq!(std::fs::read_to_string(output_dir.join("copy")).unwrap(), "hello");
    assert_eq!(std::fs::read_to_string(work.join("kept")).unwrap(), "kept\n");
}

#[test]
fn json_outcome_and_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("task.log");
    let output = rstore(&[
        "sandbox",
        "run",
        "--json",
        "--log",
        log.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is the JSON outcome only");
    assert_eq!(outcome["termination"], serde_json::json!({"kind": "exited", "code": 3}));
    assert_eq!(outcome["logs"], serde_json::json!([log.to_str().unwrap()]));
    assert!(outcome["duration"].as_f64().unwrap() > 0.0);
    assert!(outcome["enforcement"]["id_mapping"].is_string());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "out\nerr\n");
}

#[test]
fn dry_run_prints_the_setup_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let rw = format!("{}:/build/out", dir.path().display());
    let output = rstore(&["sandbox", "run", "--dry-run", "--rw", &rw, "--", "touch", "/build/out/marker"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("  bind    /usr <- /usr ro\n"), "{text}");
    assert!(text.contains(&format!("  bind    /build/out <- {} rw\n", dir.path().display())), "{text}");
    assert!(text.contains("  ReadWrite /build/out\n") || text.contains("landlock: unavailable"), "{text}");
    assert!(!marker.exists(), "a dry run runs nothing");
    let json = rstore(&["sandbox", "run", "--dry-run", "--json", "--", "true"]);
    let spec: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(spec["argv"], serde_json::json!(["true"]));
}

#[test]
fn info_reports_landlock_cgroup_and_id_mapping() {
    let output = rstore(&["sandbox", "info", "--json"]);
    assert!(output.status.success());
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(info["host"]["cgroup"]["state"].is_string());
    assert!(info["host"].get("landlock_abi").is_some());
    assert_eq!(info["work_dir"], "/build/work");
    let text = stdout(&rstore(&["sandbox", "info"]));
    assert!(text.starts_with("landlock:"), "{text}");
}

#[test]
fn bad_options_get_clear_errors() {
    let output = rstore(&["sandbox", "run", "--ro", "/nonexistent/thing", "--", "true"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "error: /nonexistent/thing does not exist\n");
    let output = rstore(&["sandbox", "run", "--memory", "lots", "--", "true"]);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "error: \"lots\" is not a size like 512M or 2G\n");
    let output = rstore(&["sandbox", "run", "-e", "TZ=Europe/Paris", "--", "true"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: running `true` in the sandbox: invalid sandbox request: environment variable TZ is fixed to \"UTC\" in the sandbox, the request sets \"Europe/Paris\"\n"
    );
}

#[test]
fn stdin_is_null_unless_interactive() {
    use std::io::Write;
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rstore"))
            .args(["-q", "sandbox", "run"])
            .args(args)
            .args(["--", "cat"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(stdout(&run(&[])), "");
    assert_eq!(stdout(&run(&["-i"])), "typed\n");
}

#[test]
fn killing_rstore_kills_the_task() {
    // rstore gets no chance to remove a fresh work dir: give it one of ours.
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .args(["-q", "sandbox", "run", "--work"])
        .arg(work.path())
        .args(["--", "sh", "-c", "setsid sleep 3161 & sleep 3162"])
        .spawn()
        .unwrap();
    let alive = |marker: &str| {
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").starts_with(marker))
                .unwrap_or(false)
        })
    };
    let started = std::time::Instant::now();
    while !(alive("sleep 3161") && alive("sleep 3162")) {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the task never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: rstore gets no chance to clean up
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    while alive("sleep 3161") || alive("sleep 3162") {
        assert!(killed.elapsed() < std::time::Duration::from_secs(10), "the task outlived rstore");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sigint_cancels_the_task_and_removes_the_fresh_work_dir() {
    let marker = format!("rstore-sigint-{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .args(["-q", "sandbox", "run", "--", "sh", "-c"])
        .arg(format!("echo $PWD; touch {marker}; sleep 3163"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the task runs: the fresh work dir holds the marker.
    let started = std::time::Instant::now();
    let work = loop {
        let found = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join(&marker).exists());
        if let Some(dir) = found {
            break dir;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the task never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: kill with plain integers, on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "/build/work\n");
    assert!(!work.exists(), "{} was left behind", work.display());
}

/// As an unprivileged user (here `nobody`, which has no /etc/subuid range): one id is
/// mapped, as 0, and rstore says so. Runs when the tests run as root (as in CI); as an
/// unprivileged user every other test already covers that case.
#[test]
fn an_unprivileged_user_gets_a_single_id_sandbox_and_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    // A copy of the binary nobody may execute (the build dir may be private).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("rstore");
    std::fs::copy(env!("CARGO_BIN_EXE_rstore"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .args(["sandbox", "run", "--", "sh", "-c", "id -u; cat /proc/self/uid_map; touch f; chown 5:5 f"])
        .output()
        .unwrap();
    let out = stdout(&output);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "65534", "1"], "{out}{err}");
    assert!(err.contains("only one id is mapped, chown to other ids fails inside"), "{err}");
    assert!(err.contains("chown: changing ownership of 'f': Invalid argument"), "{err}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn check_conditions_shift_the_clock_pin_randomness_and_report_an_old_kernel() {
    let probe = "date -u +%Y; od -An -N8 -tx1 /dev/urandom; python3 -c 'import os; print(os.urandom(4).hex())'; \
                 uname -r; cut -c1-8 /proc/sys/kernel/randomize_va_space >/dev/null; env | sort";
    let run = |extra: &[&str]| {
        let mut args = vec!["sandbox", "run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", probe]);
        let output = rstore(&args);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    };
    let ten_years = (10 * 366 * 86400).to_string();
    let plain = run(&[]);
    let varied = run(&["--clock-offset", &ten_years, "--uname-2.6"]);
    let pinned = [run(&["--pin-randomness"]), run(&["--pin-randomness"])];
    let year = |out: &str| out.lines().next().unwrap().trim().parse::<u32>().unwrap();
    assert!(year(&varied) >= year(&plain) + 9, "the clock is not shifted:\n{plain}\n{varied}");
    let kernel = |out: &str| out.lines().nth(3).unwrap().to_owned();
    assert!(kernel(&varied).starts_with("2.6."), "{varied}");
    assert!(!kernel(&plain).starts_with("2.6."), "{plain}");
    // Pinned randomness: the same bytes from /dev/urandom and from Python's os.urandom
    // (getrandom fails, so Python reads /dev/urandom) in two sandboxes.
    assert_eq!(pinned[0], pinned[1], "pinned randomness differs between runs");
    let random = |out: &str| out.lines().skip(1).take(2).collect::<Vec<_>>().join("\n");
    assert_ne!(random(&plain), random(&pinned[0]), "fresh randomness equals the pinned stream");
    // None of it shows in the environment.
    let env = |out: &str| out.lines().skip(4).collect::<Vec<_>>().join("\n");
    assert_eq!(env(&plain), env(&varied));
    assert_eq!(env(&plain), env(&pinned[0]));
}
