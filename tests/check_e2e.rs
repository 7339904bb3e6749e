//! End-to-end tests of `rstore build --check`, `rstore report reproducibility` and
//! `rstore challenge`, on the recipes of `tests/layers/meta-check-test` (each
//! unreproducible in exactly one way, and controls printing what the sandbox pins) and on
//! the bundled demo image.
//!
//! Varying the directory order needs disorderfs and FUSE, the HTML report test needs
//! Chromium, the diffoscope part needs diffoscope (scripts/install-deps installs all
//! three from Debian); the demo image needs the downloads mirror `RSTORE_DOWNLOADS_MIRROR`
//! (scripts/test fills one). A part that cannot run says `SKIPPED:` on stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The recipes that are unreproducible in one way each, by the cause `--check` must name.
const BAD: [(&str, &str); 5] = [
    ("check-bad-time", "time"),
    ("check-bad-randomness", "randomness"),
    ("check-bad-cpu-count", "cpu-count"),
    ("check-bad-file-order", "file-order"),
    ("check-bad-kernel", "kernel"),
];
const CONTROLS: &str = "check-controls";

fn rstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RUST_LOG")
        .env_remove("RSTORE_LAYERS_DIR")
        .env_remove("RSTORE_STORE")
        .env_remove("RSTORE_SUBSTITUTERS")
        .env_remove("RSTORE_TRUSTED_KEYS");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_crash(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert!(out.status.code().is_some(), "{what}: killed by a signal\n{stderr}");
    assert_ne!(out.status.code(), Some(101), "{what}: panicked\n{stderr}");
    assert!(!stderr.contains("panicked at"), "{what}: panicked\n{stderr}");
}

fn check_layer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layers/meta-check-test")
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// Whether this machine can vary the directory order (disorderfs and FUSE).
fn can_vary_file_order() -> bool {
    installed("disorderfs") && Path::new("/dev/fuse").exists()
}

fn host_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A build directory over the bundled layers and the check layer.
struct BuildDir {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl BuildDir {
    fn new() -> BuildDir {
        let tmp = tempfile::Builder::new().prefix("rstore-check-e2e-").tempdir().unwrap();
        let dir = tmp.path().join("b");
        let out = rstore().arg("init").arg(&dir).output().unwrap();
        assert!(out.status.success(), "rstore init: {}", text(&out.stderr));
        let b = BuildDir { tmp, dir };
        b.append("conf/bblayers.conf", &format!("BBLAYERS += \"{}\"", check_layer().display()));
        b
    }

    fn append(&self, rel: &str, line: &str) {
        let path = self.dir.join(rel);
        let mut conf = std::fs::read_to_string(&path).unwrap();
        conf.push_str(line);
        conf.push('\n');
        std::fs::write(&path, conf).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = rstore().arg("-C").arg(&self.dir).args(args).output().unwrap();
        assert_no_crash(&out, &format!("rstore {args:?}"));
        out
    }

    /// `rstore build --json ARGS`: its events (the last one is the summary).
    fn build_json(&self, args: &[&str]) -> (Output, Vec<Value>) {
        let mut all = vec!["build", "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let events: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}")))
            .collect();
        let last = events.last().unwrap_or_else(|| panic!("no events; stderr:\n{}", text(&out.stderr)));
        assert_eq!(last["event"], "summary", "{last}\n{}", text(&out.stderr));
        (out, events)
    }
}

/// The `check` events, by task.
fn checks(events: &[Value]) -> BTreeMap<String, Value> {
    events
        .iter()
        .filter(|e| e["event"] == "check")
        .map(|e| (e["task"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn causes(event: &Value) -> Vec<String> {
    event["causes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect()
}

#[test]
fn each_bad_recipe_is_caught_with_exactly_its_cause_and_the_controls_are_reproducible() {
    let b = BuildDir::new();
    let mut targets: Vec<&str> = BAD.iter().map(|(pn, _)| *pn).collect();
    targets.push(CONTROLS);
    let (out, events) = b.build_json(&[&["--check"], targets.as_slice()].concat());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a check with unreproducible tasks exits 1:\n{stderr}");
    let checks = checks(&events);
    let mut expected_bad = 0;
    for (pn, cause) in BAD {
        let task = format!("{pn}:do_compile");
        let event = checks.get(&task).unwrap_or_else(|| panic!("{task} was not checked: {checks:#?}"));
        let varied = match cause {
            "file-order" => can_vary_file_order(),
            "cpu-count" => host_cpus() > 1,
            _ => true,
        };
        if !varied {
            eprintln!("SKIPPED: the {cause} part of the check test (this machine cannot vary it)");
            continue;
        }
        expected_bad += 1;
        assert_eq!(event["reproducible"], false, "{task} should differ: {event:#}");
        assert_eq!(causes(event), vec![cause.to_owned()], "{task}: wrong cause: {event:#}");
        let paths: Vec<&str> =
            event["differences"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
        assert!(paths.iter().all(|p| p.starts_with("build/")), "{task}: differences outside its output: {paths:?}");
        assert_eq!(paths.len(), 1, "{task}: {event:#}");
        if installed("diffoscope") {
            let report = event["diffoscope"].as_str().unwrap_or_else(|| panic!("{task}: no diffoscope report"));
            let report = std::fs::read_to_string(report).unwrap();
            assert!(report.contains(paths[0]), "{task}: diffoscope report without {}:\n{report}", paths[0]);
        } else {
            eprintln!("SKIPPED: diffoscope reports (diffoscope is not installed)");
        }
    }
    // Everything else, the controls above all, is reproducible: what the sandbox pins
    // is never a cause.
    for (task, event) in &checks {
        let bad = BAD.iter().any(|(pn, _)| task == &format!("{pn}:do_compile"));
        if !bad {
            assert_eq!(event["reproducible"], true, "{task} should be reproducible: {event:#}");
        }
    }
    assert!(checks.contains_key(&format!("{CONTROLS}:do_compile")));
    let summary = &events.last().unwrap()["check"];
    assert_eq!(summary["tasks"].as_u64().unwrap() as usize, checks.len(), "{summary}");
    assert_eq!(summary["unreproducible"], expected_bad, "{summary}");
    assert!(summary["not_checked"].as_u64().unwrap() > 0, "fetch and noexec tasks are not checked: {summary}");

    // The text report names the task and the cause.
    let out = b.run(&["build", "--check", "check-bad-kernel:do_compile"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("NOT REPRODUCIBLE check-bad-kernel:do_compile: kernel"), "{stdout}");
    assert!(stdout.contains("build/kernel"), "{stdout}");

    // The report reads what the check recorded.
    let out = b.run(&["report", "reproducibility", "--json", CONTROLS, "check-bad-time"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["recipes"][CONTROLS]["totals"]["unreproducible"], 0, "{report:#}");
    assert_eq!(report["recipes"][CONTROLS]["totals"]["not_checked"], 0, "{report:#}");
    let time = &report["recipes"]["check-bad-time"];
    assert_eq!(time["totals"]["unreproducible"], 1, "{report:#}");
    let compile = time["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "check-bad-time:do_compile").unwrap();
    assert_eq!(compile["status"], "unreproducible");
    assert_eq!(compile["causes"], serde_json::json!(["time"]));
}

#[test]
fn a_named_task_alone_is_checked_and_keep_failed_keeps_both_trees() {
    let b = BuildDir::new();
    let (out, events) = b.build_json(&["--check", "--keep-failed", "check-bad-randomness:do_compile"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let checked = checks(&events);
    assert_eq!(checked.keys().collect::<Vec<_>>(), ["check-bad-randomness:do_compile"], "only the named task");
    let event = &checked["check-bad-randomness:do_compile"];
    assert_eq!(causes(event), ["randomness"]);
    let kept = event["kept"].as_array().unwrap_or_else(|| panic!("nothing kept: {event:#}"));
    let token = |i: usize| std::fs::read(Path::new(kept[i].as_str().unwrap()).join("build/token")).unwrap();
    assert_ne!(token(0), token(1), "the kept trees should hold the two different tokens");
    assert!(kept[0].as_str().unwrap().contains("rstore-check/check-bad-randomness:do_compile/stored"));

    // A reproducible task named alone: exit 0.
    let (out, events) = b.build_json(&["--check", "check-controls:do_compile"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(checks(&events).len(), 1);
    assert_eq!(events.last().unwrap()["check"]["reproducible"], 1);
}

/// The colour of pixel (x, y) of an RGB or RGBA screenshot.
fn pixel(data: &[u8], info: &png::OutputInfo, x: usize, y: usize) -> [u8; 3] {
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let at = y * info.line_size + x * channels;
    [data[at], data[at + 1], data[at + 2]]
}

#[test]
fn the_html_report_renders_in_chromium_with_its_header_totals_bar_and_coloured_rows() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|p| installed(p)) else {
        eprintln!("SKIPPED: the HTML report test (Chromium is not installed; scripts/install-deps installs it)");
        return;
    };
    let b = BuildDir::new();
    let (out, _) = b.build_json(&["--check", "check-bad-kernel", CONTROLS]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let html = b.tmp.path().join("report.html");
    let out = b.run(&["report", "reproducibility", "check-bad-kernel", CONTROLS, "--html", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    for external in ["http://", "https://", "<script", "<link"] {
        assert!(!page.contains(external), "the page is not self-contained ({external})");
    }
    let shot = b.tmp.path().join("report.png");
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,900"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .env("HOME", b.tmp.path())
        .output()
        .unwrap();
    assert!(shot.is_file(), "Chromium made no screenshot: {}", text(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut data = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut data).unwrap();
    assert!(info.width >= 1000 && info.height >= 800, "{info:?}");
    // The header: a dark band across the top.
    let header = pixel(&data, &info, 5, 5);
    assert!(header.iter().all(|c| *c < 0x60), "no dark header at the top: {header:?}");
    let body = pixel(&data, &info, 5, info.height as usize - 5);
    assert!(body.iter().all(|c| *c > 0xf0), "the page body is not white: {body:?}");
    // Rows: green for reproducible tasks, red for the unreproducible one, below the header.
    let mut colours = BTreeMap::new();
    for y in (100..info.height as usize).step_by(4) {
        for x in (0..info.width as usize).step_by(8) {
            *colours.entry(pixel(&data, &info, x, y)).or_insert(0usize) += 1;
        }
    }
    let green = colours.get(&[0xc8, 0xe6, 0xc9]).copied().unwrap_or(0);
    let red = colours.get(&[0xff, 0xcd, 0xd2]).copied().unwrap_or(0);
    assert!(green > 500, "no green rows of reproducible tasks ({green} samples)");
    assert!(red > 50, "no red row for the unreproducible task ({red} samples)");
    assert!(green > red, "more tasks are reproducible than not");
    // The totals bar: green then red on one line.
    let bar_y = (90..200)
        .find(|&y| pixel(&data, &info, 40, y) == [0x2e, 0x7d, 0x32])
        .unwrap_or_else(|| panic!("no totals bar"));
    assert!((40..900).any(|x| pixel(&data, &info, x, bar_y) == [0xc6, 0x28, 0x28]), "the bar has no red part");
}

#[test]
fn challenge_names_the_tasks_a_cache_built_differently() {
    let a = BuildDir::new();
    let keys = a.tmp.path().join("keys");
    let out = rstore().args(["key", "generate", "check-test-1", "--out"]).arg(&keys).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = std::fs::read_to_string(keys.join("check-test-1.public")).unwrap().trim().to_owned();
    let cache = a.tmp.path().join("cache");
    let url = format!("file://{}", cache.display());
    let targets = ["check-bad-randomness", CONTROLS];
    let out = a.run(&["build", "-q", targets[0], targets[1]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = keys.join("check-test-1.secret");
    let out = a.run(&["cache", "push", &url, targets[0], targets[1], "--key", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Another machine builds the same recipes: its random token differs.
    let b = BuildDir::new();
    b.append("conf/local.conf", &format!("RSTORE_TRUSTED_KEYS = \"{public}\""));
    let out = b.run(&["build", "-q", targets[0], targets[1]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = b.run(&["challenge", "--json", "--substituter", &url, targets[0], targets[1]]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // do_compile wrote the token; every later task of the recipe carries it in its output.
    let different: Vec<&Value> = events.iter().filter(|e| e["status"] == "different").collect();
    assert!(different.iter().any(|e| e["task"] == "check-bad-randomness:do_compile"), "{events:#?}");
    for e in &different {
        assert!(e["task"].as_str().unwrap().starts_with("check-bad-randomness:"), "{e}");
        assert_eq!(e["differences"].as_array().unwrap().len(), 1, "{e}");
        assert_eq!(e["differences"][0]["path"], "build/token", "{e}");
    }
    let earlier = events.iter().filter(|e| e["task"] == "check-bad-randomness:do_configure");
    assert!(earlier.clone().all(|e| e["status"] == "same"), "tasks before the token agree");
    assert!(
        events
            .iter()
            .filter(|e| e["task"].as_str().is_some_and(|t| t.starts_with(CONTROLS)))
            .all(|e| e["status"] != "different")
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert!(summary["same"].as_u64().unwrap() > 10, "{summary}");
}

#[test]
fn the_demo_image_is_reproducible_under_check() {
    let Some(mirror) = std::env::var_os("RSTORE_DOWNLOADS_MIRROR").filter(|m| !m.is_empty()) else {
        eprintln!("SKIPPED: the demo image check (RSTORE_DOWNLOADS_MIRROR is not set; scripts/test sets it)");
        return;
    };
    let b = BuildDir::new();
    b.append("conf/local.conf", &format!("SOURCE_MIRROR_URL = \"file://{}\"", Path::new(&mirror).display()));
    b.append("conf/local.conf", "BB_NO_NETWORK = \"1\"");
    let (out, events) = b.build_json(&["--check", "rstore-image-minimal"]);
    let checks = checks(&events);
    let bad: Vec<&Value> = checks.values().filter(|e| e["reproducible"] != true).collect();
    assert!(bad.is_empty(), "unreproducible tasks of the demo image: {bad:#?}");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(checks.len() > 50, "only {} tasks checked", checks.len());
    assert!(checks.contains_key("rstore-image-minimal:do_rootfs"), "the image itself was not checked");
    assert_eq!(events.last().unwrap()["check"]["unreproducible"], 0);
}
