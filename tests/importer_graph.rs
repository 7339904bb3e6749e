//! End-to-end tests of `rstore graph` on the graph test layers (`tests/layers/graph-*`)
//! and the bundled layers.
//!
//! The scenarios of `tests/layers/graph-expected/scenarios.txt` are compared byte for
//! byte with what BitBake's `bitbake -g` wrote for them (`regenerate.sh` there makes
//! the expected files again); the error cases check the messages and the exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn layers() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")).join("tests/layers")
}

/// A build directory over graph-core and graph-extra with these local.conf lines.
fn build_dir(local_conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let l = layers();
    std::fs::write(
        conf.join("bblayers.conf"),
        format!(
            "BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{} {}\"\n",
            l.join("graph-core").display(),
            l.join("graph-extra").display()
        ),
    )
    .unwrap();
    std::fs::write(conf.join("local.conf"), local_conf).unwrap();
    dir
}

fn graph(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstore"))
        .arg("-C")
        .arg(dir)
        .arg("graph")
        .args(args)
        .arg("-o")
        .arg(dir)
        .output()
        .expect("run rstore graph")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) {
    let out = graph(dir, args);
    assert!(out.status.success(), "rstore graph {args:?} failed:\n{}", stderr(&out));
}

fn fails(local_conf: &str, args: &[&str]) -> String {
    let dir = build_dir(local_conf);
    let out = graph(dir.path(), args);
    assert!(!out.status.success(), "rstore graph {args:?} should fail; stderr:\n{}", stderr(&out));
    assert!(!dir.path().join("task-depends.dot").exists(), "no graph is written when it cannot be made");
    stderr(&out)
}

fn json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("task-depends.json")).unwrap()).unwrap()
}

fn has_edge(g: &Value, from: &str, to: &str) -> bool {
    g["edges"].as_array().unwrap().iter().any(|e| e[0] == from && e[1] == to)
}

fn task<'a>(g: &'a Value, id: &str) -> &'a Value {
    g["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("no task {id}"))
}

fn version(g: &Value, pn: &str) -> String {
    let r = g["recipes"].as_array().unwrap().iter().find(|r| r["pn"] == pn);
    r.unwrap_or_else(|| panic!("{pn} is not in the graph"))["version"].as_str().unwrap().to_owned()
}

#[test]
fn scenarios_match_bitbake() {
    let expected = layers().join("graph-expected");
    let manifest = std::fs::read_to_string(expected.join("scenarios.txt")).unwrap();
    let (mut tasks, mut scenarios) = (0, 0);
    for line in manifest.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let (name, targets, conf) = (parts[0], parts[1], parts.get(2).copied().unwrap_or(""));
        let dir = build_dir(&conf.replace(" ; ", "\n"));
        let args: Vec<&str> = targets.split_whitespace().collect();
        ok(dir.path(), &args);
        let ours = std::fs::read_to_string(dir.path().join("task-depends.dot")).unwrap();
        let ours = ours.replace(&layers().display().to_string(), "LAYERS");
        let want = std::fs::read_to_string(expected.join(format!("{name}.dot"))).unwrap();
        assert!(
            ours == want,
            "scenario {name}: task-depends.dot differs from BitBake's:\n{}",
            first_difference(&want, &ours)
        );
        let pns = std::fs::read_to_string(dir.path().join("pn-buildlist")).unwrap();
        let want = std::fs::read_to_string(expected.join(format!("{name}.pn-buildlist"))).unwrap();
        assert_eq!(pns, want, "scenario {name}: pn-buildlist differs from BitBake's");
        tasks += ours.matches("[label=").count();
        scenarios += 1;
    }
    assert!(scenarios >= 10, "the scenario list was not read");
    eprintln!("{scenarios} scenarios identical to bitbake -g ({tasks} task nodes in all)");
}

fn first_difference(want: &str, ours: &str) -> String {
    for (i, (a, b)) in want.lines().zip(ours.lines()).enumerate() {
        if a != b {
            return format!("line {}: BitBake {a:?}, rstore {b:?}", i + 1);
        }
    }
    format!("BitBake has {} lines, rstore {}", want.lines().count(), ours.lines().count())
}

#[test]
fn providers_and_flags_reach_the_json() {
    let dir = build_dir("");
    ok(dir.path(), &["app"]);
    let g = json(dir.path());
    assert_eq!(g["targets"], serde_json::json!(["app:do_build"]));
    // PREFERRED_PROVIDER, DEFAULT_PREFERENCE = "-1" on libbar 3.0, BBFILE_PRIORITY of graph-extra.
    assert_eq!(g["providers"]["virtual/libfoo"], "libfoo-b");
    assert_eq!(version(&g, "libbar"), ":2.0.5-r0");
    assert_eq!(version(&g, "libbaz"), ":0.9-r0");
    // Run-time names: RPROVIDES with PREFERRED_RPROVIDER, PACKAGES_DYNAMIC.
    assert_eq!(version(&g, "shell-b"), ":1.0-r0");
    assert!(
        has_edge(&g, "app:do_package_write", "plugins:do_packagedata"),
        "PACKAGES_DYNAMIC provides app-plugin-extra"
    );
    assert!(has_edge(&g, "app:do_package_write", "helper:do_packagedata"), "RPROVIDES provides runtime-helper");
    // [deptask], [depends], addtask before/after, deltask, [recrdeptask].
    assert!(has_edge(&g, "app:do_prepare_recipe_sysroot", "libfoo-b:do_populate_sysroot"));
    assert!(has_edge(&g, "tool-native:do_unpack", "unzip-native:do_populate_sysroot"));
    assert!(has_edge(&g, "tool-native:do_install", "tool-native:do_generate"));
    assert!(has_edge(&g, "tool-native:do_generate", "tool-native:do_compile"));
    assert!(has_edge(&g, "tool-native:do_configure", "tool-native:do_unpack"));
    assert!(
        g["tasks"].as_array().unwrap().iter().all(|t| t["id"] != "tool-native:do_patch"),
        "deltask removes the task"
    );
    assert!(has_edge(&g, "app:do_build", "tool-native:do_deploy"), "do_build[recrdeptask] reaches tool-native");
    // Flags.
    assert_eq!(task(&g, "app:do_build")["noexec"], true);
    assert_eq!(task(&g, "app:do_compile")["noexec"], false);
    assert_eq!(task(&g, "tool-native:do_deploy")["nostamp"], true);
    // ASSUME_PROVIDED (exact and regular expression): no such recipe, no error.
    assert!(g["recipes"].as_array().unwrap().iter().all(|r| r["pn"] != "hostperl-native"));
    // Priorities: the target weighs least, what everything waits for most.
    let weight = |id: &str| task(&g, id)["priority"].as_u64().unwrap();
    assert!(weight("zlib-native:do_fetch") > weight("app:do_build"));
}

#[test]
fn recursive_tasks_follow_recideptask() {
    let dir = build_dir("");
    ok(dir.path(), &["test-image"]);
    let g = json(dir.path());
    // do_rootfs waits for every package it reaches at run time, recursively...
    for pn in ["app", "libbar", "helper", "plugins", "shell-b"] {
        assert!(has_edge(&g, "test-image:do_rootfs", &format!("{pn}:do_package_write")), "{pn}");
    }
    // ...and, through [recideptask] = do_prepare_recipe_sysroot, for what that task
    // would stage (DEPENDS = extra-data) although do_rootfs does not wait for it.
    assert!(has_edge(&g, "test-image:do_rootfs", "extra-data:do_package_write"));
    assert!(g["tasks"].as_array().unwrap().iter().all(|t| t["id"] != "test-image:do_prepare_recipe_sysroot"));
    // [depends] and [rdepends] of the image task.
    assert!(has_edge(&g, "test-image:do_rootfs", "rootfs-tools-native:do_populate_sysroot"));
    assert!(has_edge(&g, "test-image:do_rootfs", "helper:do_package_write"));
    assert_eq!(task(&g, "test-image:do_image")["nostamp"], true);
}

#[test]
fn several_targets_with_tasks_and_variants() {
    let dir = build_dir("");
    let out = graph(dir.path(), &["zlib-native:do_install", "nativesdk-zlib", "app:do_compile", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ok"], true);
    assert!(summary["tasks"].as_u64().unwrap() > 10);
    let g = json(dir.path());
    let targets: Vec<&str> = g["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(targets.len(), 3);
    for t in ["zlib-native:do_install", "nativesdk-zlib:do_build", "app:do_compile"] {
        assert!(targets.contains(&t), "{t} in {targets:?}");
    }
    // Variants are their own recipes, built from the same file.
    let zlib: Vec<&Value> = g["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"].as_str().unwrap().ends_with("zlib_1.3.bb"))
        .collect();
    let variants: Vec<&str> = zlib.iter().map(|r| r["variant"].as_str().unwrap()).collect();
    assert!(variants.contains(&"native") && variants.contains(&"nativesdk"), "{variants:?}");
    assert!(zlib.iter().any(|r| r["target"].as_str().unwrap().starts_with("virtual:nativesdk:")));
    // Only what the targets need: app:do_compile does not package anything.
    assert!(g["tasks"].as_array().unwrap().iter().all(|t| t["id"] != "app:do_package"));
}

#[test]
fn nothing_provides_names_the_chain() {
    let err = fails("", &["broken-top"]);
    assert!(
        err.contains("Nothing PROVIDES 'does-not-exist' (but broken-leaf DEPENDS on or otherwise requires it)"),
        "{err}"
    );
    assert!(
        err.contains(
            "wanted through: broken-top -> broken-mid (RDEPENDS) -> broken-leaf (DEPENDS) -> 'does-not-exist' (DEPENDS)"
        ),
        "{err}"
    );
}

#[test]
fn nothing_rprovides_names_the_chain() {
    let err = fails("", &["broken-rt"]);
    assert!(err.contains("Nothing RPROVIDES 'no-such-package' (but broken-rt RDEPENDS"), "{err}");
    assert!(err.contains("-> 'no-such-package' (RDEPENDS)"), "{err}");
}

#[test]
fn a_skipped_provider_says_why() {
    let err = fails("", &["virtual/skipped"]);
    assert!(err.contains("Nothing PROVIDES 'virtual/skipped'"), "{err}");
    assert!(
        err.contains(
            "skipped-one PROVIDES virtual/skipped but was skipped: needs a machine feature this configuration lacks"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_target_suggests_close_names() {
    let err = fails("", &["zlibb"]);
    assert!(err.contains("Nothing PROVIDES 'zlibb'"), "{err}");
    assert!(err.contains("close matches: zlib"), "{err}");
}

#[test]
fn a_required_version_that_does_not_exist_is_an_error() {
    let err = fails("REQUIRED_VERSION_libbar = \"9.9\"\n", &["app"]);
    assert!(err.contains("required version 9.9 of libbar not available"), "{err}");
    assert!(err.contains("Nothing PROVIDES 'libbar'"), "{err}");
    assert!(err.contains("No eligible PROVIDERs exist for 'libbar'"), "{err}");
}

#[test]
fn an_ambiguous_provider_is_an_error() {
    let err = fails("PREFERRED_PROVIDER_virtual/libfoo = \"\"\nPREFERRED_RPROVIDER_virtual-shell = \"\"\n", &["app"]);
    assert!(
        err.contains("several recipes provide 'virtual/libfoo' and none is preferred: libfoo-a, libfoo-b"),
        "{err}"
    );
    assert!(err.contains("PREFERRED_PROVIDER_virtual/libfoo"), "{err}");
    assert!(err.contains("wanted through: app -> 'virtual/libfoo' (DEPENDS)"), "{err}");
    assert!(
        err.contains("several recipes provide runtime 'virtual-shell' and none is preferred: shell-a, shell-b"),
        "{err}"
    );
}

#[test]
fn two_providers_of_one_name_cannot_both_be_built() {
    let err = fails("", &["libfoo-a", "libfoo-b"]);
    assert!(
        err.contains("several recipes providing 'virtual/libfoo' are due to be built: libfoo-a, libfoo-b"),
        "{err}"
    );
}

#[test]
fn a_cycle_is_printed() {
    let err = fails("", &["cycle-a"]);
    let line = err.lines().find(|l| l.contains("dependency cycle")).unwrap_or_else(|| panic!("{err}"));
    for t in ["cycle-a:do_prepare_recipe_sysroot", "cycle-b:do_populate_sysroot", "cycle-a:do_populate_sysroot"] {
        assert!(line.contains(t), "{line}");
    }
    // The cycle closes on the task it starts with.
    let tasks: Vec<&str> = line.split(": ").nth(2).unwrap().split(" -> ").collect();
    assert_eq!(tasks.first(), tasks.last(), "{line}");
}

#[test]
fn bad_task_references_are_errors() {
    let err = fails("", &["bad-flag"]);
    assert!(err.contains("bad-flag: do_compile[rdepends] entry \"zlib\" must be RECIPE:TASK"), "{err}");
    let err = fails("", &["bad-task"]);
    assert!(
        err.contains("task do_compile of bad-task depends on do_nonexistent of zlib-native, which has no such task"),
        "{err}"
    );
    let err = fails("", &["app:do_nonsense", "app:do_compil"]);
    assert!(err.contains("task do_nonsense does not exist for target app"), "{err}");
}

#[test]
fn the_default_task_comes_from_the_configuration() {
    let dir = build_dir("BB_DEFAULT_TASK = \"package_write\"\n");
    ok(dir.path(), &["app"]);
    assert_eq!(json(dir.path())["targets"], serde_json::json!(["app:do_package_write"]));
    ok(dir.path(), &["app", "-c", "compile"]);
    assert_eq!(json(dir.path())["targets"], serde_json::json!(["app:do_compile"]));
}

#[test]
fn formats_can_be_chosen() {
    let dir = build_dir("");
    ok(dir.path(), &["zlib", "--format", "json"]);
    assert!(dir.path().join("task-depends.json").exists());
    assert!(dir.path().join("pn-buildlist").exists());
    assert!(!dir.path().join("task-depends.dot").exists());
}

#[test]
fn bundled_layers_image_and_native_task() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("build");
    let init = Command::new(env!("CARGO_BIN_EXE_rstore"))
        .arg("init")
        .arg(&dir)
        .arg("--layers")
        .arg(
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")).join("layers"),
        )
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr(&init));
    ok(&dir, &["rstore-image-minimal", "zstd-native:do_install"]);
    let g = json(&dir);
    let ids: Vec<&str> = g["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"rstore-image-minimal:do_build") && ids.contains(&"zstd-native:do_install"));
    assert!(has_edge(&g, "zstd-native:do_install", "zstd-native:do_compile"));
    // The image waits for the packages of what it installs (do_rootfs[recrdeptask]).
    let rootfs: Vec<&str> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0] == "rstore-image-minimal:do_rootfs")
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert!(rootfs.iter().any(|d| d.starts_with("busybox:do_package")), "{rootfs:?}");
    let pns = std::fs::read_to_string(dir.join("pn-buildlist")).unwrap();
    assert!(pns.lines().any(|l| l == "busybox") && pns.lines().any(|l| l == "zstd-native"), "{pns}");
    let dot = std::fs::read_to_string(dir.join("task-depends.dot")).unwrap();
    assert!(dot.starts_with("digraph depends {\n") && dot.ends_with("}\n"));
    assert_eq!(dot.matches("[label=").count(), ids.len());
}
