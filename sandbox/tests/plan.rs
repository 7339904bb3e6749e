//! Snapshot tests of the pure request → spec function, on synthetic hosts.

use std::path::PathBuf;
use std::time::Duration;

use rstore_sandbox::host::{CgroupSupport, HostFacts, SubIdRange};
use rstore_sandbox::{Limits, Mount, Network, PlanError, RecordedMode, Request, Sink, WorkDir, plan};

fn root_host() -> HostFacts {
    HostFacts {
        uid: 0,
        gid: 0,
        subuid: None,
        subgid: None,
        id_helpers: None,
        landlock_abi: Some(7),
        cgroup: CgroupSupport::Unavailable { reason: "test host".into() },
        cpus: vec![0, 1, 2, 3],
        nofile_hard: 1 << 20,
        pid_max_per_namespace: true,
        time_namespace: true,
    }
}

fn user_host() -> HostFacts {
    HostFacts {
        uid: 1000,
        gid: 1000,
        subuid: Some(SubIdRange { start: 100000, count: 65536 }),
        subgid: Some(SubIdRange { start: 200000, count: 65536 }),
        id_helpers: Some(("/usr/bin/newuidmap".into(), "/usr/bin/newgidmap".into())),
        cgroup: CgroupSupport::Delegated {
            parent: "/sys/fs/cgroup/user.slice/user-1000.slice/build".into(),
            cpuset: true,
        },
        nofile_hard: 4096,
        ..root_host()
    }
}

/// A request shaped like a recipe task: tools, a sysroot input, env, log.
fn task() -> Request {
    let mut request = Request::new("sh", ["-e", "run.do_compile"])
        .ro("/host/usr", "/usr")
        .ro("/store/checkouts/abc123", "/build/sysroot")
        .rw("/builds/zlib/temp", "/build/temp")
        .env("PATH", "/usr/bin:/bin")
        .env("CC", "gcc");
    request.mounts.push(Mount::Symlink { target: "usr/bin".into(), inside: "/bin".into() });
    request.work_dir = WorkDir::Host("/builds/zlib/work".into());
    request.source_date_epoch = Some(1_700_000_000);
    request.parallelism = Some(2);
    request.stdout = Sink::File("/builds/zlib/log.do_compile".into());
    request.stderr = Sink::File("/builds/zlib/log.do_compile".into());
    request
}

#[test]
fn recipe_task_as_root() {
    insta::assert_snapshot!(plan(&task(), &root_host()).unwrap().to_string());
}

#[test]
fn unprivileged_user_with_subordinate_ids_and_delegated_cgroup() {
    let mut request = task();
    request.limits = Limits {
        time: Some(Duration::from_secs(600)),
        memory_bytes: Some(2 << 30),
        processes: Some(512),
        open_files: None,
        file_size_bytes: Some(1 << 30),
        tmpfs_bytes: Some(1 << 30),
        log_bytes: Some(64 << 20),
    };
    insta::assert_snapshot!(plan(&request, &user_host()).unwrap().to_string());
}

#[test]
fn unprivileged_user_without_helpers_maps_one_id_and_says_so() {
    let host = HostFacts { id_helpers: None, ..user_host() };
    let spec = plan(&task(), &host).unwrap();
    insta::assert_snapshot!(spec.to_string());
    let err = plan(&Request { uid: 1000, ..task() }, &host).unwrap_err();
    assert!(matches!(err, PlanError::UnmappedId { uid: 1000, .. }), "{err}");
}

#[test]
fn limits_without_cgroup_fall_back_loudly() {
    let mut request = task();
    request.limits.memory_bytes = Some(256 << 20);
    request.limits.processes = Some(64);
    insta::assert_snapshot!(plan(&request, &root_host()).unwrap().to_string());
    let old_kernel = HostFacts { pid_max_per_namespace: false, ..root_host() };
    let spec = plan(&request, &old_kernel).unwrap();
    assert_eq!(
        spec.enforcement.processes,
        rstore_sandbox::Mechanism::ProcessRlimit,
        "a root caller's tasks run as a range of their own, not as host root, so RLIMIT_NPROC applies"
    );
}

#[test]
fn no_landlock_is_reported() {
    let host = HostFacts { landlock_abi: None, ..root_host() };
    let spec = plan(&task(), &host).unwrap();
    insta::assert_snapshot!(spec.to_string());
}

#[test]
fn fetch_task_with_network_and_overlay_work_dir() {
    let mut request = Request::new("/usr/bin/wget", ["-O", "zlib.tar.gz", "https://example.invalid/zlib.tar.gz"])
        .ro("/host/usr", "/usr");
    request.network = Network::Host;
    request.work_dir = WorkDir::Overlay {
        lower: vec!["/store/checkouts/unpack".into(), "/store/checkouts/patches".into()],
        upper: "/builds/zlib/upper".into(),
        work: "/builds/zlib/overlay-work".into(),
    };
    request.mounts.push(Mount::Overlay {
        lower: vec!["/store/checkouts/sysroot".into()],
        upper: "/builds/zlib/sysroot-upper".into(),
        work: "/builds/zlib/sysroot-work".into(),
        inside: "/build/sysroot".into(),
        modes: vec![RecordedMode { lower: 0, path: "usr/bin/su".into(), mode: 0o4755 }],
    });
    request.mounts.push(Mount::Layers {
        lower: vec!["/store/checkouts/image".into()],
        inside: "/build/image".into(),
        modes: vec![
            RecordedMode { lower: 0, path: "tmp".into(), mode: 0o1777 },
            RecordedMode { lower: 0, path: "bin/mount".into(), mode: 0o4755 },
        ],
    });
    request.mounts.push(Mount::Tmpfs { inside: "/build/scratch".into() });
    request.cwd = Some("/build/work/zlib-1.3".into());
    request.uid = 1000;
    request.gid = 1000;
    insta::assert_snapshot!(plan(&request, &root_host()).unwrap().to_string());
}

#[test]
fn same_request_same_spec_and_independent_of_mount_order() {
    let mut reversed = task();
    reversed.mounts.reverse();
    assert_eq!(plan(&task(), &root_host()).unwrap(), plan(&reversed, &root_host()).unwrap());
}

#[test]
fn parallelism_takes_allowed_cpus_from_the_first_cpu_on() {
    let host = HostFacts { cpus: vec![3, 5, 8], ..root_host() };
    let spec = plan(&Request { parallelism: Some(2), ..task() }, &host).unwrap();
    assert_eq!(spec.cpus, vec![3, 5]);
    let spec = plan(&Request { parallelism: Some(64), ..task() }, &host).unwrap();
    assert_eq!(spec.cpus, vec![3, 5, 8]);
    assert!(matches!(plan(&Request { parallelism: Some(0), ..task() }, &host), Err(PlanError::ZeroParallelism)));
    // Tasks running at once start at different CPUs, wrapping around.
    let spec = plan(&Request { parallelism: Some(1), first_cpu: 1, ..task() }, &host).unwrap();
    assert_eq!(spec.cpus, vec![5]);
    let spec = plan(&Request { parallelism: Some(2), first_cpu: 2, ..task() }, &host).unwrap();
    assert_eq!(spec.cpus, vec![3, 8]);
    let spec = plan(&Request { parallelism: Some(3), first_cpu: 7, ..task() }, &host).unwrap();
    assert_eq!(spec.cpus, vec![3, 5, 8]);
}

#[test]
fn bad_requests_get_clear_errors() {
    let host = root_host();
    let cases: Vec<(Request, &str)> = vec![
        (Request::new("", Vec::<String>::new()), "the request names no program"),
        (
            task().env("TZ", "Europe/Paris"),
            "environment variable TZ is fixed to \"UTC\" in the sandbox, the request sets \"Europe/Paris\"",
        ),
        (
            task().env("SOURCE_DATE_EPOCH", "1"),
            "environment variable SOURCE_DATE_EPOCH is fixed to \"1700000000\" in the sandbox, the request sets \"1\"",
        ),
        (task().env("A=B", "x"), "invalid environment variable \"A=B\" (empty, or contains '=' or NUL)"),
        (task().ro("/x", "relative/path"), "inside path relative/path must be absolute, without '.' or '..'"),
        (task().ro("/x", "/build/../etc"), "inside path /build/../etc must be absolute, without '.' or '..'"),
        (task().ro("relative", "/opt"), "host path relative must be absolute (and without ':' or ',' in overlay dirs)"),
        (task().ro("/x", "/proc/sys"), "cannot mount at /proc/sys: the sandbox provides that path itself"),
        (task().ro("/x", "/etc/passwd"), "cannot mount at /etc/passwd: the sandbox provides that path itself"),
        (task().ro("/x", "/build/work"), "cannot mount at /build/work: the sandbox provides that path itself"),
        (task().ro("/x", "/usr"), "two mounts at /usr"),
        (Request { hostname: String::new(), ..task() }, "invalid host name \"\" (1 to 64 bytes, no '/' or NUL)"),
        (Request::new("sh", ["a\0b"]), "argument \"a\\0b\" contains a NUL byte"),
    ];
    for (request, expected) in cases {
        let err = plan(&request, &host).expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn the_environment_is_exactly_the_request_plus_fixed_variables() {
    let spec = plan(&task(), &root_host()).unwrap();
    let names: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["CC", "HOME", "LC_ALL", "PATH", "SOURCE_DATE_EPOCH", "TZ"]);
    assert_eq!(spec.search_path, ["/usr/bin", "/bin"]);
    let _ = PathBuf::new();
}

#[test]
fn check_conditions_add_files_a_filter_rule_and_a_personality_never_an_environment_variable() {
    let mut request = task();
    request.conditions =
        rstore_sandbox::Conditions { clock_offset_ns: Some(-5_000_000_000), pinned_randomness: true, old_kernel: true };
    let usual = plan(&task(), &root_host()).unwrap();
    let spec = plan(&request, &root_host()).unwrap();
    assert_eq!(spec.env, usual.env, "the environment is the task's whatever the conditions");
    assert_eq!(usual.personality, 0);
    assert_eq!(spec.personality, 0x0020000 | 0x0040000, "UNAME26 and ADDR_NO_RANDOMIZE");
    let shown = spec.to_string();
    for line in [
        "fixed   /dev/urandom (pinned randomness)",
        "fixed   /dev/random (pinned randomness)",
        "shim    /etc/rstore-clock.so (shifted clock)",
    ] {
        assert!(shown.contains(line), "no {line:?} in:\n{shown}");
    }
    let file = |path: &str| {
        spec.steps.iter().find_map(|s| match s {
            rstore_sandbox::plan::Step::File { path: p, contents, .. } if p == std::path::Path::new(path) => {
                Some(contents.clone())
            }
            _ => None,
        })
    };
    assert_eq!(file("/etc/rstore-clock").as_deref(), Some("-5000000000\n"));
    assert_eq!(file("/etc/ld.so.preload").as_deref(), Some("/etc/rstore-clock.so\n"));
    let denied = |s: &rstore_sandbox::Spec| match &s.syscall_filter {
        rstore_sandbox::SyscallFilter::Enforced { denied, .. } => denied.iter().map(|d| d.name).collect::<Vec<_>>(),
        rstore_sandbox::SyscallFilter::Unavailable => Vec::new(),
    };
    if !denied(&usual).is_empty() {
        assert!(!denied(&usual).contains(&"getrandom"));
        assert!(denied(&spec).contains(&"getrandom"));
    }
}

/// On the host's network, landlock below ABI 6 cannot confine abstract unix sockets to
/// the sandbox: the task then gets no unix sockets at all. Elsewhere nothing changes.
#[test]
fn host_network_without_landlock_scopes_gets_no_unix_sockets() {
    let denied = |abi: Option<u32>, network: Network| {
        let host = HostFacts { landlock_abi: abi, ..root_host() };
        let mut request = task();
        request.network = network;
        match plan(&request, &host).unwrap().syscall_filter {
            rstore_sandbox::SyscallFilter::Enforced { unix_sockets_denied, .. } => unix_sockets_denied,
            other => panic!("no filter: {other:?}"),
        }
    };
    assert!(denied(Some(5), Network::Host));
    assert!(denied(None, Network::Host));
    assert!(!denied(Some(6), Network::Host));
    assert!(!denied(Some(5), Network::Loopback));
    let host = HostFacts { landlock_abi: Some(5), ..root_host() };
    let mut request = task();
    request.network = Network::Host;
    let text = plan(&request, &host).unwrap().to_string();
    assert!(text.contains("ioctl TIOCSTI, TIOCLINUX, socket(AF_UNIX)"), "{text}");
}

#[test]
fn cgroup_v1_hierarchies_limit_the_task_and_keep_it_to_a_cpuset() {
    use rstore_sandbox::Mechanism;
    let v1 = |cpuset: Option<&str>| HostFacts {
        cgroup: CgroupSupport::V1 {
            memory: "/sys/fs/cgroup/memory/build".into(),
            pids: "/sys/fs/cgroup/pids".into(),
            cpuset: cpuset.map(Into::into),
        },
        ..root_host()
    };
    let mut request = task();
    request.parallelism = Some(2);
    request.limits.memory_bytes = Some(256 << 20);
    request.limits.processes = Some(64);
    let spec = plan(&request, &v1(Some("/sys/fs/cgroup/cpuset"))).unwrap();
    let cgroup = spec.cgroup.as_ref().expect("a cgroup");
    assert_eq!(
        (cgroup.memory_max, cgroup.pids_max, cgroup.cpus.as_deref()),
        (Some(256 << 20), Some(66), Some(&[0, 1][..]))
    );
    assert_eq!(
        (spec.enforcement.memory, spec.enforcement.processes, spec.enforcement.cpus),
        (Mechanism::Cgroup, Mechanism::Cgroup, Mechanism::Cgroup)
    );
    assert!(spec.degradations.is_empty(), "{:?}", spec.degradations);

    // Only CPUs asked for: a cgroup all the same, for its cpuset.
    let mut only_cpus = task();
    only_cpus.parallelism = Some(1);
    let spec = plan(&only_cpus, &v1(Some("/sys/fs/cgroup/cpuset"))).unwrap();
    assert_eq!(spec.cgroup.as_ref().and_then(|c| c.cpus.clone()), Some(vec![0]));

    // No cpuset hierarchy: memory and processes still by cgroup, CPUs by affinity, said so.
    let spec = plan(&request, &v1(None)).unwrap();
    assert_eq!(spec.cgroup.as_ref().map(|c| c.cpus.clone()), Some(None));
    assert_eq!(spec.enforcement.cpus, Mechanism::AffinityMask);
    assert!(spec.degradations.iter().any(|d| d.to_string().contains("affinity mask they could widen")));
    let spec = plan(&only_cpus, &v1(None)).unwrap();
    assert_eq!(spec.cgroup, None);
}
