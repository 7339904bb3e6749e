//! End-to-end tests of `rstore build` on real layers: the bundled ones (meta-core,
//! meta-demo) and the fixture layer `tests/layers/meta-build-test`.
//!
//! Each test creates its own build directory with `rstore init` (its own store,
//! downloads and `tmp/`), adds the fixture layer where it needs fixture recipes, and
//! drives the binary. Tasks really run in the sandbox and outputs really enter the
//! store, so these tests need what a build needs: root (or unprivileged user
//! namespaces), overlayfs, and the host tools meta-core lists in HOSTTOOLS.
//!
//! Properties checked: a no-op rebuild runs nothing; hash equivalence cuts off the
//! dependents of a task whose output did not change, and only of those; failing tasks
//! (bad patch, compile error, wrong checksum, missing download) report their name, log
//! and log tail and leave nothing in the store; `-k` finishes independent targets; two
//! build directories produce identical outputs; SIGINT cancels cleanly; `-n` runs
//! nothing; task logs hold what the task printed.
//!
//! Tests that need upstream tarballs read them from the downloads mirror named by
//! `RSTORE_DOWNLOADS_MIRROR` (scripts/test fills one); without it they skip that part
//! and say so on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Contents of the file the wrong-checksum test puts in its mirror, and its sha256.
const MISMATCHED_FILE: &[u8] = b"not the file the recipe expects\n";
const MISMATCHED_SHA256: &str = "2941c680b2fc1446e162387ac239ce4534d9f941eeb277a03364673ebf74891d";
/// What fail-checksum_1.0.bb says the file's sha256 is.
const EXPECTED_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000001";
/// The URL of fail-download_1.0.bb, which no mirror has.
const ABSENT_URL: &str = "https://downloads.rstore.invalid/fixture/absent-1.0.tar.gz";

fn fixture_layer() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/layers/meta-build-test")
}

/// The `rstore` binary, with no environment that changes where it looks.
fn rstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RUST_LOG").env_remove("RSTORE_LAYERS_DIR").env_remove("RSTORE_STORE");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fail if rstore panicked or was killed by a signal, whatever else it did.
fn assert_no_crash(status: ExitStatus, stderr: &str, what: &str) {
    assert!(status.code().is_some(), "{what}: killed by a signal ({status:?})\n{stderr}");
    assert_ne!(status.code(), Some(101), "{what}: panicked\n{stderr}");
    assert!(!stderr.contains("panicked at"), "{what}: panicked\n{stderr}");
}

/// A digest as rstore prints it: `b3:` and 64 lowercase hex digits.
fn is_digest(s: &str) -> bool {
    s.strip_prefix("b3:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A build directory made by `rstore init` in a temporary directory of its own.
struct BuildDir {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl BuildDir {
    /// A build directory for the bundled layers only, at `<tmp>/b`.
    fn new() -> BuildDir {
        BuildDir::at("b")
    }

    /// A build directory for the bundled layers only, at `<tmp>/<rel>`.
    fn at(rel: &str) -> BuildDir {
        let tmp = tempfile::Builder::new().prefix("rstore-e2e-").tempdir().unwrap();
        let dir = tmp.path().join(rel);
        let out = rstore().arg("init").arg(&dir).output().unwrap();
        assert!(out.status.success(), "rstore init failed: {}", text(&out.stderr));
        BuildDir { tmp, dir }
    }

    /// A build directory for the bundled layers and the fixture layer.
    fn with_fixture() -> BuildDir {
        let b = BuildDir::new();
        b.add_layer(&fixture_layer());
        b
    }

    /// A build directory for the bundled layers and a private copy of the fixture
    /// layer (for tests that edit recipes); returns the copy's path too.
    fn with_fixture_copy() -> (BuildDir, PathBuf) {
        let b = BuildDir::new();
        let copy = b.tmp.path().join("meta-build-test");
        copy_tree(&fixture_layer(), &copy);
        b.add_layer(&copy);
        (b, copy)
    }

    fn add_layer(&self, layer: &Path) {
        self.append("conf/bblayers.conf", &format!("BBLAYERS += \"{}\"", layer.display()));
    }

    /// Add a line to conf/local.conf.
    fn local_conf(&self, line: &str) {
        self.append("conf/local.conf", line);
    }

    fn append(&self, rel: &str, line: &str) {
        let path = self.dir.join(rel);
        let mut conf = std::fs::read_to_string(&path).unwrap();
        conf.push_str(line);
        conf.push('\n');
        std::fs::write(&path, conf).unwrap();
    }

    /// Use a directory of this build's own as a file:// source mirror, with the network
    /// off; returns the mirror directory (empty).
    fn private_mirror(&self) -> PathBuf {
        let mirror = self.tmp.path().join("mirror");
        std::fs::create_dir_all(&mirror).unwrap();
        self.local_conf(&format!("SOURCE_MIRROR_URL = \"file://{}\"", mirror.display()));
        self.local_conf("BB_NO_NETWORK = \"1\"");
        mirror
    }

    fn command(&self) -> Command {
        let mut cmd = rstore();
        cmd.arg("-C").arg(&self.dir);
        cmd
    }

    /// Run `rstore -C DIR ARGS` (it must not crash).
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        assert_no_crash(out.status, &text(&out.stderr), &format!("rstore {args:?}"));
        out
    }

    /// Run and require success; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "rstore {args:?} failed ({:?}):\n{}", out.status, text(&out.stderr));
        text(&out.stdout)
    }

    /// `rstore build --json ARGS`: its events.
    fn build(&self, args: &[&str]) -> Build {
        let mut all = vec!["build", "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        Build::parse(&text(&out.stdout), out.status, text(&out.stderr), args)
    }

    /// `rstore build --json ARGS`, which must succeed.
    fn build_ok(&self, args: &[&str]) -> Build {
        let b = self.build(args);
        assert!(b.status.success(), "rstore build {args:?} failed ({:?}): {}\n{}", b.status, b.summary(), b.stderr);
        b
    }

    /// What `rstore show TASK` prints as the output root: a digest or "(not built)".
    fn output_root(&self, task: &str) -> String {
        let out = self.ok(&["show", task]);
        out.lines()
            .find_map(|l| l.strip_prefix("output root: "))
            .unwrap_or_else(|| panic!("rstore show {task} printed no output root:\n{out}"))
            .trim()
            .to_owned()
    }

    /// The output root of a built task (which must be built).
    fn built_root(&self, task: &str) -> String {
        let root = self.output_root(task);
        assert!(is_digest(&root), "{task} should be built, show says output root {root}");
        root
    }

    /// The output roots of `tasks`.
    fn roots(&self, tasks: &BTreeSet<String>) -> BTreeMap<String, String> {
        tasks.iter().map(|t| (t.clone(), self.built_root(t))).collect()
    }

    /// `rstore store verify` finds nothing wrong.
    fn assert_store_clean(&self) {
        let report: Value = serde_json::from_str(&self.ok(&["store", "verify", "--json"])).unwrap();
        assert_eq!(report["problems"], Value::Array(vec![]), "store verify: {report:#}");
        assert_eq!(report["dangling"], Value::Array(vec![]), "store verify: {report:#}");
    }

    /// How many entries the store holds.
    fn store_entries(&self) -> u64 {
        let stats: Value = serde_json::from_str(&self.ok(&["store", "stats", "--json"])).unwrap();
        stats["entries"].as_u64().unwrap_or_else(|| panic!("store stats without entries: {stats}"))
    }

    /// A recipe's log directory, BitBake's `${T}`: `tmp/work/<arch>/<pn>/<pv>/temp`.
    fn log_dir(&self, pn: &str) -> PathBuf {
        let work = self.dir.join("tmp/work");
        let mut found = Vec::new();
        for arch in read_dir_sorted(&work) {
            for pv in read_dir_sorted(&arch.join(pn)) {
                found.push(pv.join("temp"));
            }
        }
        assert_eq!(found.len(), 1, "expected one work directory of {pn} under {}: {found:?}", work.display());
        found.pop().unwrap()
    }

    /// Every file under `tmp/deploy`, by path relative to it: its bytes (symlinks:
    /// their target).
    fn deploy_tree(&self) -> BTreeMap<String, Vec<u8>> {
        let root = self.dir.join("tmp/deploy");
        let mut files = BTreeMap::new();
        collect_files(&root, &root, &mut files);
        files
    }
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for path in read_dir_sorted(dir) {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(rel, std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes());
        } else if meta.is_dir() {
            collect_files(root, &path, out);
        } else {
            out.insert(rel, std::fs::read(&path).unwrap());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for path in read_dir_sorted(from) {
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// One `rstore build --json` run: its exit status, events and stderr.
struct Build {
    status: ExitStatus,
    events: Vec<Value>,
    stderr: String,
}

impl Build {
    fn parse(stdout: &str, status: ExitStatus, stderr: String, args: &[&str]) -> Build {
        let events: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("build {args:?}: not a JSON event ({e}): {l}")))
            .collect();
        let last = events.last().unwrap_or_else(|| panic!("build {args:?} printed no events; stderr:\n{stderr}"));
        assert_eq!(last["event"], "summary", "build {args:?}: the last event is not the summary: {last}\n{stderr}");
        Build { status, events, stderr }
    }

    fn summary(&self) -> &Value {
        self.events.last().unwrap()
    }

    /// A count of the summary (run, substituted, cutoff, failed, skipped).
    fn count(&self, key: &str) -> u64 {
        self.summary()[key].as_u64().unwrap_or_else(|| panic!("summary without {key}: {}", self.summary()))
    }

    fn tasks(&self, event: &str, resolution: Option<&str>) -> BTreeSet<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == event && resolution.is_none_or(|r| e["resolution"] == r))
            .map(|e| e["task"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Tasks that started.
    fn started(&self) -> BTreeSet<String> {
        self.tasks("started", None)
    }

    /// Tasks that ran to success.
    fn ran(&self) -> BTreeSet<String> {
        self.tasks("finished", Some("ran"))
    }

    fn failures(&self) -> &Vec<Value> {
        self.summary()["failures"].as_array().unwrap()
    }
}

/// The numbers of the text summary line on stdout ("Build of T: 1 run, 4 from the
/// store, 11 cut off by hash equivalence, 0 failed, 0 not run, in 0.2s"), by what
/// follows each number.
fn text_summary(stdout: &str) -> BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Build of "))
        .unwrap_or_else(|| panic!("no summary line on stdout:\n{stdout}"));
    let counts = line.split_once(": ").unwrap().1;
    counts
        .split(", ")
        .filter_map(|part| {
            let (n, what) = part.split_once(' ')?;
            Some((what.to_owned(), n.parse().ok()?))
        })
        .collect()
}

/// Tasks a text-mode build reported as done ("done PN:TASK (0.1s)" on stderr).
fn done_lines(stderr: &str) -> BTreeSet<String> {
    stderr.lines().filter_map(|l| l.strip_prefix("done ")).map(|l| l.split(' ').next().unwrap().to_owned()).collect()
}

#[test]
fn noop_rebuild_runs_nothing_and_keeps_outputs() {
    let b = BuildDir::new();
    let first = b.build_ok(&["hello"]);
    let tasks = first.ran();
    for t in ["hello:do_fetch", "hello:do_compile", "hello:do_install", "hello:do_package_write_deb"] {
        assert!(tasks.contains(t), "{t} did not run in the first build: {tasks:?}");
    }
    assert_eq!(first.count("run") as usize, tasks.len());
    let roots = b.roots(&tasks);
    let deploy = b.deploy_tree();
    assert!(
        deploy.keys().any(|k| k.starts_with("deb/") && k.ends_with(".deb")),
        "no .deb was deployed: {:?}",
        deploy.keys()
    );

    let second = b.build_ok(&["hello"]);
    assert_eq!(second.count("run"), 0, "the no-op build ran tasks: {:?}", second.ran());
    assert_eq!(second.count("cutoff"), 0);
    assert_eq!(second.count("failed"), 0);
    assert!(second.started().is_empty(), "the no-op build started {:?}", second.started());
    assert_eq!(b.roots(&tasks), roots, "output roots changed after a no-op build");
    assert!(b.deploy_tree() == deploy, "the deploy tree changed after a no-op build");

    // The same in text mode with -q: the summary on stdout, nothing on stderr.
    let out = b.run(&["-q", "build", "hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let counts = text_summary(&text(&out.stdout));
    assert_eq!(counts["run"], 0, "{counts:?}");
    assert_eq!(text(&out.stderr), "", "-q should keep stderr empty when nothing fails");

    // -f runs the target task again (and only it); its output is the same.
    let forced = b.build_ok(&["hello", "-f", "-c", "compile"]);
    assert_eq!(forced.ran(), BTreeSet::from(["hello:do_compile".to_owned()]));
    assert_eq!(b.built_root("hello:do_compile"), roots["hello:do_compile"]);
    b.assert_store_clean();
}

#[test]
fn unchanged_output_cuts_off_dependents() {
    let (b, layer) = BuildDir::with_fixture_copy();
    let first = b.build_ok(&["chain-b"]);
    for t in ["chain-a:do_compile", "chain-a:do_populate_sysroot", "chain-b:do_compile", "chain-b:do_build"] {
        assert!(first.ran().contains(t), "{t} did not run: {:?}", first.ran());
    }
    let downstream: BTreeSet<String> =
        ["chain-a:do_install", "chain-a:do_populate_sysroot", "chain-b:do_compile", "chain-b:do_install"]
            .map(str::to_owned)
            .into();
    let roots = b.roots(&downstream);

    // A comment inside chain-a's do_compile: a new basehash, the same output.
    let recipe = layer.join("recipes-test/chain/chain-a_1.0.bb");
    let original = std::fs::read_to_string(&recipe).unwrap();
    let anchor = "\tcat ${S}/chain-a.txt > value.txt\n";
    assert!(original.contains(anchor), "chain-a_1.0.bb changed: update this test");
    let edited = original.replace(anchor, &format!("\t# A comment changes the task's hash, not its output.\n{anchor}"));
    std::fs::write(&recipe, edited).unwrap();
    let out = b.run(&["build", "chain-b"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("cut off by hash equivalence"), "{stdout}");
    let counts = text_summary(&stdout);
    assert_eq!(counts["run"], 1, "only chain-a:do_compile should run: {stdout}\n{stderr}");
    assert!(counts["cut off by hash equivalence"] >= 1, "nothing was cut off: {stdout}");
    assert_eq!(done_lines(&stderr), BTreeSet::from(["chain-a:do_compile".to_owned()]), "{stderr}");
    assert_eq!(b.roots(&downstream), roots);

    // A variable do_compile reads (it only reaches the log): the same.
    b.local_conf("CHAIN_NOTE = \"second note\"");
    let noted = b.build_ok(&["chain-b"]);
    assert_eq!(noted.ran(), BTreeSet::from(["chain-a:do_compile".to_owned()]), "{}", noted.stderr);
    assert!(noted.count("cutoff") >= 1, "{}", noted.summary());
    assert_eq!(noted.count("failed"), 0);
    let log = std::fs::read_to_string(b.log_dir("chain-a").join("log.do_compile")).unwrap();
    assert!(log.contains("chain-a compiling: second note"), "do_compile did not run with the new value:\n{log}");
    assert_eq!(b.roots(&downstream), roots);

    // And nothing is left to do.
    assert_eq!(b.build_ok(&["chain-b"]).count("run"), 0);
    b.assert_store_clean();
}

#[test]
fn changed_output_reruns_dependents() {
    let b = BuildDir::with_fixture();
    b.build_ok(&["chain-b"]);
    let before = b.built_root("chain-b:do_install");

    b.local_conf("CHAIN_VALUE = \"two\"");
    let rebuilt = b.build_ok(&["chain-b"]);
    for t in [
        "chain-a:do_compile",
        "chain-a:do_install",
        "chain-a:do_populate_sysroot",
        "chain-b:do_prepare_recipe_sysroot",
        "chain-b:do_compile",
        "chain-b:do_install",
    ] {
        assert!(rebuilt.ran().contains(t), "{t} should run again: ran {:?}", rebuilt.ran());
    }
    assert!(!rebuilt.ran().contains("chain-a:do_fetch"), "chain-a:do_fetch does not read CHAIN_VALUE");
    let after = b.built_root("chain-b:do_install");
    assert_ne!(before, after);
    let result = b.ok(&["store", "cat", &after, "image/usr/share/chain-b/result.txt"]);
    assert!(result.contains("chain-b saw: value: two"), "chain-b did not see the new value:\n{result}");
    b.assert_store_clean();
}

#[test]
fn what_runs_is_what_was_hashed_or_listed_unhashed() {
    let b = BuildDir::with_fixture();
    let task = "exported:do_compile";
    b.build_ok(&[task]);
    let show = |b: &BuildDir| -> Value { serde_json::from_str(&b.ok(&["show", task, "--json"])).unwrap() };
    let file = |b: &BuildDir, name: &str| b.ok(&["store", "cat", &b.built_root(task), &format!("build/{name}")]);
    let first = show(&b);
    assert_eq!(first["inputs"]["EXPORTED_HASHED"], "hashed one", "{first:#}");
    assert!(first["inputs"].get("EXPORTED_UNHASHED").is_none(), "{first:#}");
    assert_eq!(first["unhashed"]["EXPORTED_UNHASHED"]["value"], "unhashed one", "{first:#}");
    assert_eq!(first["unhashed"]["EXPORTED_UNHASHED"]["why"], "excluded", "{first:#}");
    assert_eq!(first["unhashed"]["EXPORTED_UNHASHED"]["by"], "do_compile", "{first:#}");
    let script = first["script"].as_str().expect("a shell task's derivation holds its script");
    assert!(script.contains("export EXPORTED_UNHASHED=\"unhashed one\""), "{script}");
    assert!(script.contains("export EXPORTED_HASHED=\"hashed one\""), "{script}");
    // The run file beside the log is the derivation's script.
    let run_file = std::fs::read_to_string(b.log_dir("exported").join("run.do_compile")).unwrap();
    assert_eq!(run_file, script);
    assert_eq!(file(&b, "unhashed.txt"), "unhashed one\n");

    // The excluded variable changes what do_compile's script would say, not its hash:
    // it does not run again (the tasks before it, whose hashes do cover the exported
    // variable, run and are cut off), and `rstore show` says why.
    b.local_conf("EXPORTED_UNHASHED = \"unhashed two\"");
    let again = b.build_ok(&[task]);
    assert!(!again.ran().contains(task), "{task} ran again: {:?}\n{}", again.ran(), again.stderr);
    let second = show(&b);
    assert_eq!(second["basehash"], first["basehash"]);
    assert_eq!(second["unhashed"]["EXPORTED_UNHASHED"]["value"], "unhashed two", "{second:#}");
    let text = b.ok(&["show", task]);
    assert!(text.contains("EXPORTED_UNHASHED = \"unhashed two\"  [do_compile[vardepsexclude]]"), "{text}");
    assert_eq!(file(&b, "unhashed.txt"), "unhashed one\n", "the stored output is the first run's");

    // The hashed one reruns the task, which then sees both new values.
    b.local_conf("EXPORTED_HASHED = \"hashed two\"");
    let rebuilt = b.build_ok(&[task]);
    assert!(rebuilt.ran().contains(task), "{:?}", rebuilt.ran());
    assert_ne!(show(&b)["basehash"], first["basehash"]);
    assert_eq!(file(&b, "hashed.txt"), "hashed two\n");
    assert_eq!(file(&b, "unhashed.txt"), "unhashed two\n");
}

/// Build `target` (text mode, then `--json`) and check that it fails in `task` the
/// way a user needs: exit status 1, the task's name and log path on stderr, the log
/// exists and its tail is on stderr, the task's output never enters the store.
/// Returns the text-mode stderr and the log.
fn assert_fails_in(b: &BuildDir, target: &str, task: &str) -> (String, String) {
    let out = b.run(&["build", target]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "build {target} should fail with status 1:\n{stderr}");
    let first = format!("error: {task} failed");
    let line = stderr.lines().find(|l| l.starts_with(&first)).unwrap_or_else(|| panic!("no `{first}` in:\n{stderr}"));
    let log = PathBuf::from(line.split_once("; log: ").unwrap_or_else(|| panic!("no log path in: {line}")).1.trim());
    let (pn, name) = task.split_once(':').unwrap();
    assert_eq!(log, b.log_dir(pn).join(format!("log.{name}")), "the log is not in ${{T}}");
    let log_text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let tail: Vec<&str> = log_text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!tail.is_empty(), "{} is empty", log.display());
    for l in &tail[tail.len().saturating_sub(3)..] {
        assert!(stderr.contains(l), "log line `{l}` is not on stderr:\n{stderr}");
    }
    let summary = text_summary(&text(&out.stdout));
    assert_eq!(summary["failed"], 1, "{summary:?}");

    // Again with --json: the task runs again (its output was not stored), and the
    // summary names it and its log.
    let again = b.build(&[target]);
    assert_eq!(again.status.code(), Some(1));
    assert!(again.started().contains(task), "{task} did not run again: {:?}", again.started());
    assert_eq!(again.count("failed"), 1);
    let failure = &again.failures()[0];
    assert_eq!(failure["task"], task);
    assert_eq!(failure["log"], log.display().to_string());
    assert!(failure["message"].as_str().unwrap().contains(tail[tail.len() - 1]), "{failure}");

    b.assert_store_clean();
    assert_eq!(b.output_root(task), "(not built)");
    (stderr, log_text)
}

#[test]
fn bad_patch_fails_with_log() {
    let b = BuildDir::with_fixture();
    let (stderr, _) = assert_fails_in(&b, "fail-patch", "fail-patch:do_patch");
    assert!(stderr.contains("fix-greeting.patch"), "the error does not name the patch:\n{stderr}");
    // Its predecessors are fine and stored.
    b.built_root("fail-patch:do_unpack");
}

#[test]
fn compile_error_fails_with_log_tail() {
    let b = BuildDir::with_fixture();
    let (stderr, log) = assert_fails_in(&b, "fail-compile", "fail-compile:do_compile");
    assert!(stderr.contains("fail-compile: the frobnicator is missing"), "{stderr}");
    assert!(log.contains("fail-compile: looking for the frobnicator"), "{log}");
}

#[test]
fn wrong_checksum_fails_naming_both_checksums() {
    let b = BuildDir::with_fixture();
    let mirror = b.private_mirror();
    std::fs::write(mirror.join("checksum-1.0.tar.gz"), MISMATCHED_FILE).unwrap();
    let (stderr, _) = assert_fails_in(&b, "fail-checksum", "fail-checksum:do_fetch");
    assert!(stderr.contains(EXPECTED_SHA256), "the expected sha256 is not named:\n{stderr}");
    assert!(stderr.contains(MISMATCHED_SHA256), "the actual sha256 is not named:\n{stderr}");
    // The mismatching file is not taken into the downloads.
    let downloads = b.dir.join("downloads");
    let mut kept = BTreeMap::new();
    collect_files(&downloads, &downloads, &mut kept);
    let bad: Vec<&String> =
        kept.iter().filter(|(_, bytes)| bytes.as_slice() == MISMATCHED_FILE).map(|(p, _)| p).collect();
    assert!(bad.is_empty(), "the mismatching file was kept in DL_DIR: {bad:?}");
}

#[test]
fn missing_download_fails_naming_the_url() {
    let b = BuildDir::with_fixture();
    b.private_mirror();
    let (stderr, _) = assert_fails_in(&b, "fail-download", "fail-download:do_fetch");
    assert!(stderr.contains(ABSENT_URL), "the URL is not named:\n{stderr}");
}

#[test]
fn keep_going_finishes_independent_targets() {
    let b = BuildDir::with_fixture();
    let built = b.build(&["-k", "fail-compile", "sleeper"]);
    assert_eq!(built.status.code(), Some(1), "a failed task must fail the build:\n{}", built.stderr);
    assert_eq!(built.count("failed"), 1);
    assert_eq!(built.failures()[0]["task"], "fail-compile:do_compile");
    let ran = built.ran();
    for t in ["sleeper:do_compile", "sleeper:do_install", "sleeper:do_package_write_deb", "sleeper:do_build"] {
        assert!(ran.contains(t), "{t} did not run with -k: {ran:?}\n{}", built.stderr);
    }
    assert!(!built.started().contains("fail-compile:do_install"));
    b.built_root("sleeper:do_build");
    assert_eq!(b.output_root("fail-compile:do_compile"), "(not built)");
    b.assert_store_clean();
}

#[test]
fn two_build_dirs_give_identical_outputs() {
    let mut targets = vec!["hello"];
    let mirror = std::env::var_os("RSTORE_DOWNLOADS_MIRROR").filter(|m| !m.is_empty()).map(PathBuf::from);
    match &mirror {
        Some(m) => {
            assert!(m.is_dir(), "RSTORE_DOWNLOADS_MIRROR={} is not a directory", m.display());
            targets.push("zlib");
        }
        None => eprintln!(
            "two_build_dirs_give_identical_outputs: RSTORE_DOWNLOADS_MIRROR is not set, so only hello is \
             built (not zlib); scripts/test sets it to a filled downloads mirror"
        ),
    }
    let dirs = [BuildDir::new(), BuildDir::new()];
    assert_ne!(dirs[0].dir, dirs[1].dir);
    let mut builds = Vec::new();
    for (i, b) in dirs.iter().enumerate() {
        if let Some(m) = &mirror {
            b.local_conf(&format!("SOURCE_MIRROR_URL = \"file://{}\"", m.display()));
            b.local_conf("BB_NO_NETWORK = \"1\"");
        }
        if i > 0 {
            // Started at a different time: a timestamp that leaks into an output shows.
            std::thread::sleep(Duration::from_secs(1));
        }
        builds.push(b.build_ok(&targets));
    }
    let tasks = builds[0].ran();
    assert_eq!(builds[1].ran(), tasks, "the two builds ran different tasks");
    for t in &targets {
        assert!(tasks.contains(&format!("{t}:do_package_write_deb")), "{t} was not packaged: {tasks:?}");
    }
    let tasks_ref = &tasks;
    let roots: Vec<BTreeMap<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs.iter().map(|b| s.spawn(move || b.roots(tasks_ref))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for t in &tasks {
        assert_eq!(roots[0][t], roots[1][t], "{t} has different outputs in the two build directories");
    }
    let deploy = [dirs[0].deploy_tree(), dirs[1].deploy_tree()];
    let debs: Vec<&String> = deploy[0].keys().filter(|k| k.ends_with(".deb")).collect();
    assert!(debs.len() >= targets.len(), "too few .deb files: {debs:?}");
    assert_eq!(deploy[0].keys().collect::<Vec<_>>(), deploy[1].keys().collect::<Vec<_>>());
    for (path, bytes) in &deploy[0] {
        assert!(deploy[1][path] == *bytes, "deploy/{path} differs between the two build directories");
    }
}

/// Processes whose command line is exactly `args`.
fn processes_running(args: &[&str]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let parts: Vec<&[u8]> = cmdline.split(|b| *b == 0).filter(|p| !p.is_empty()).collect();
        if parts.len() == args.len() && parts.iter().zip(args).all(|(p, a)| *p == a.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Kills the child if the test ends before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "gave up waiting {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_cancels_cleanly() {
    let b = BuildDir::with_fixture();
    // A duration no other process on the machine sleeps for.
    let seconds = format!("40.{}", std::process::id());
    b.local_conf(&format!("SLEEPER_SECONDS = \"{seconds}\""));
    let sleep = ["sleep", seconds.as_str()];

    let child =
        b.command().args(["build", "--json", "sleeper"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr_pipe = child.0.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });

    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|e| panic!("no `started` event for sleeper:do_compile: {e}"));
        let event: Value = serde_json::from_str(&line).unwrap();
        lines.push(line);
        if event["event"] == "started" && event["task"] == "sleeper:do_compile" {
            break;
        }
        assert_ne!(event["event"], "summary", "the build ended before do_compile started: {lines:?}");
    }
    // The task's sleep is running inside the sandbox.
    wait_for("the sleep of sleeper:do_compile to start", Duration::from_secs(30), || {
        !processes_running(&sleep).is_empty()
    });

    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    let signalled = Instant::now();
    let mut status = None;
    wait_for("rstore to exit after SIGINT", Duration::from_secs(10), || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    let exited_after = signalled.elapsed();
    assert!(exited_after < Duration::from_secs(10), "rstore took {exited_after:?} to exit after SIGINT");

    // The sandboxed sleep is gone (allowing the kernel a moment to reap it). Checked
    // before reading the pipes to their end: a leftover process could hold them open.
    let start = Instant::now();
    while !processes_running(&sleep).is_empty() && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(processes_running(&sleep), Vec::<u32>::new(), "the task's process outlived the build");

    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let stderr = stderr_reader.join().unwrap();
    assert_no_crash(status, &stderr, "rstore build (cancelled)");
    assert!(!status.success(), "a cancelled build must fail");
    let summary: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary", "{lines:?}\n{stderr}");
    assert_eq!(summary["cancelled"], true, "{summary}");

    // Nothing of the cancelled task entered the store: a new build would run it.
    b.assert_store_clean();
    assert_eq!(b.output_root("sleeper:do_compile"), "(not built)");
    let dry = b.build_ok(&["-n", "sleeper"]);
    let would_run = dry.summary()["would_run"].as_array().unwrap();
    assert!(would_run.iter().any(|t| t == "sleeper:do_compile"), "{}", dry.summary());
}

#[test]
fn dry_run_runs_nothing() {
    let b = BuildDir::with_fixture();
    let dry = b.build_ok(&["-n", "chain-b"]);
    assert_eq!(dry.summary()["dry_run"], true);
    let would_run: BTreeSet<String> =
        dry.summary()["would_run"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    for t in ["chain-a:do_fetch", "chain-a:do_compile", "chain-b:do_compile", "chain-b:do_build"] {
        assert!(would_run.contains(t), "{t} missing from would_run: {would_run:?}");
    }
    assert!(dry.started().is_empty(), "a dry run started {:?}", dry.started());
    assert_eq!(b.store_entries(), 0, "a dry run stored something");
    assert!(b.deploy_tree().is_empty(), "a dry run deployed files");
    assert!(!b.dir.join("tmp/work").exists(), "a dry run wrote task logs");

    // Text mode lists the same tasks on stdout.
    let listed = b.ok(&["build", "-n", "chain-b"]);
    assert!(listed.starts_with(&format!("{} tasks would run", would_run.len())), "{listed}");
    for t in &would_run {
        assert!(listed.lines().any(|l| l.trim() == t), "{t} not listed:\n{listed}");
    }

    // With chain-a built, only chain-b's tasks would run; the store is unchanged.
    b.build_ok(&["chain-a"]);
    let entries = b.store_entries();
    let dry = b.build_ok(&["-n", "chain-b"]);
    let would_run: Vec<&str> =
        dry.summary()["would_run"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(!would_run.is_empty());
    assert!(would_run.iter().all(|t| t.starts_with("chain-b:")), "{would_run:?}");
    assert_eq!(b.store_entries(), entries);
    assert_eq!(b.output_root("chain-b:do_compile"), "(not built)");
}

#[test]
fn task_logs_hold_what_tasks_printed() {
    let b = BuildDir::with_fixture();
    let built = b.build_ok(&["chain-a"]);
    let temp = b.log_dir("chain-a");
    let log = std::fs::read_to_string(temp.join("log.do_compile")).unwrap();
    assert!(log.contains("chain-a compiling: first note"), "stdout of do_compile missing:\n{log}");
    assert!(log.contains("chain-a: a line on stderr"), "stderr of do_compile missing:\n{log}");
    // Shell tasks and built-ins alike keep their logs there.
    for name in ["do_fetch", "do_unpack", "do_configure", "do_install", "do_package_write_deb"] {
        assert!(built.ran().contains(&format!("chain-a:{name}")), "chain-a:{name} did not run");
        assert!(temp.join(format!("log.{name}")).is_file(), "no log.{name} in {}", temp.display());
    }
}

#[test]
fn long_build_dir_path_builds() {
    // Users keep build directories anywhere: the path of the build directory (and so
    // of its store, whose checkouts become the lower layers of a task's overlay) must
    // not limit what builds. hello's do_configure sits on two lower layers.
    let deep = ["a-directory-of-projects", "some-product", "yocto-builds", "build-for-the-host-machine"].join("/");
    let b = BuildDir::at(&deep);
    assert!(b.dir.as_os_str().len() > 80, "{}", b.dir.display());
    let built = b.build(&["hello"]);
    assert!(built.status.success(), "build in {} failed: {}\n{}", b.dir.display(), built.summary(), built.stderr);
    assert!(built.ran().contains("hello:do_configure"), "{:?}", built.ran());
    b.built_root("hello:do_build");
}

/// The escape tests of `rstore build`: what every task sees of the machine, whatever
/// the host. (`tests/sandbox_security.rs` tries the same from `rstore sandbox run`.)
#[test]
fn tasks_see_a_fixed_cpu_count_a_syscall_filter_and_their_own_clocks() {
    let b = BuildDir::with_fixture();
    b.build_ok(&["escape-probe"]);
    let log = std::fs::read_to_string(b.log_dir("escape-probe").join("log.do_compile")).unwrap();
    let host_cpus = std::thread::available_parallelism().unwrap().get();
    assert!(log.contains(&format!("nproc: {}\n", host_cpus.min(4))), "RSTORE_TASK_CPUS defaults to 4:\n{log}");
    assert!(log.contains("seccomp: 2\n"), "no system-call filter:\n{log}");
    // Its scripts come on a tmpfs: no mount shows the host's (randomly named) scratch
    // directories, so no output can depend on them.
    assert!(log.contains("scratch mounts: 0\n"), "{log}");
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split('.').next().unwrap().parse().unwrap();
    if Path::new("/proc/self/ns/time").exists() && host_uptime > 600.0 {
        let line = log.lines().find_map(|l| l.strip_prefix("uptime: ")).unwrap();
        assert!(line.parse::<u64>().unwrap() < 300, "the task sees the host's uptime ({line} s):\n{log}");
    }

    // RSTORE_TASK_CPUS = 1: one CPU, and the setting is part of no hash (nothing else runs).
    b.local_conf("RSTORE_TASK_CPUS = \"1\"");
    b.build_ok(&["escape-probe", "-f", "-c", "compile"]);
    let log = std::fs::read_to_string(b.log_dir("escape-probe").join("log.do_compile")).unwrap();
    assert!(log.contains("nproc: 1\n"), "{log}");
}

/// A task's setuid program, setgid and world-writable directories and world-writable
/// file reach no checkout on the host, yet the next task sees their modes.
#[test]
fn setuid_bits_reach_no_checkout_yet_later_tasks_see_them() {
    use std::os::unix::fs::MetadataExt;
    let b = BuildDir::with_fixture();
    b.build_ok(&["escape-setuid"]);
    let log = std::fs::read_to_string(b.log_dir("escape-setuid").join("log.do_show_modes")).unwrap();
    let modes: Vec<&str> = log.lines().filter(|l| l.starts_with("mode ")).collect();
    assert_eq!(
        modes,
        [
            "mode 4755 ./usr/bin/escalate",
            "mode 1777 ./var/shared",
            "mode 2775 ./var/group-owned",
            "mode 666 ./var/writable"
        ],
        "{log}"
    );
    let checkouts = b.dir.join("store/checkouts-v1");
    assert!(checkouts.join("exact-trees").is_dir(), "no exact checkouts at {}", checkouts.display());
    let mut pending = vec![checkouts];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            seen += 1;
            assert_eq!(meta.mode() & 0o6002, 0, "{} has mode {:o} on the host", entry.path().display(), meta.mode());
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    assert!(seen > 20, "only {seen} checkout entries looked at");
    b.assert_store_clean();
}

/// A hostile task cannot change what an earlier task stored: it gets its inputs as lower
/// layers, cannot remount anything or find a descriptor of a lower directory, and what it
/// writes over its inputs is its own output only. The store stays verified and the next
/// task still sees what `do_install` recorded.
#[test]
fn a_task_changes_no_stored_object() {
    let b = BuildDir::with_fixture();
    b.build_ok(&["escape-setuid", "-c", "install"]);
    b.build_ok(&["escape-setuid", "-c", "tamper"]);
    let log = std::fs::read_to_string(b.log_dir("escape-setuid").join("log.do_tamper")).unwrap();
    for refused in ["REMOUNTED", "DIRECTORY OPEN"] {
        assert!(!log.contains(refused), "{log}");
    }
    let tried =
        log.lines().find_map(|l| l.strip_prefix("tried to remount ")?.strip_suffix(" mounts")?.parse::<u32>().ok());
    assert!(tried.is_some_and(|n| n >= 5), "{log}");
    // The task did change its own view: the writes were not refused, they were copied up.
    assert!(log.contains("after: 777 tampered"), "{log}");

    // Every object and checkout on the host still hashes to its name, with its recorded
    // mode and owner, and the next task sees do_install's files as they were recorded.
    b.assert_store_clean();
    b.build_ok(&["escape-setuid", "-c", "show_modes"]);
    let log = std::fs::read_to_string(b.log_dir("escape-setuid").join("log.do_show_modes")).unwrap();
    assert!(log.contains("mode 4755 ./usr/bin/escalate\n"), "{log}");
    assert!(log.contains("mode 666 ./var/writable\n"), "{log}");
    assert!(log.contains("content echo privileged|anyone\n"), "{log}");
}

#[test]
fn a_task_flooding_its_log_fails_at_the_log_limit() {
    let b = BuildDir::with_fixture();
    b.local_conf("PROBE_FLOOD = \"1\"");
    b.local_conf("RSTORE_TASK_LOG_SIZE = \"1M\"");
    let out = b.run(&["build", "escape-probe"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("escape-probe:do_compile"), "the task is not named:\n{stderr}");
    assert!(stderr.contains("RSTORE_TASK_LOG_SIZE"), "the limit is not named:\n{stderr}");
    let log = b.log_dir("escape-probe").join("log.do_compile");
    assert!(std::fs::metadata(&log).unwrap().len() <= 1 << 20, "the log grew past its limit");
}

#[test]
fn only_fetch_tasks_get_the_network_unless_allowed_by_name() {
    let b = BuildDir::with_fixture();
    let out = b.run(&["build", "escape-network"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("escape-network:do_compile"), "the task is not named:\n{stderr}");
    assert!(stderr.contains("[network]"), "the flag is not named:\n{stderr}");
    assert!(stderr.contains("RSTORE_ALLOW_NETWORK += \"escape-network:do_compile\""), "no way out named:\n{stderr}");

    b.local_conf("RSTORE_ALLOW_NETWORK = \"escape-network:do_compile\"");
    b.build_ok(&["escape-network"]);
    let log = std::fs::read_to_string(b.log_dir("escape-network").join("log.do_compile")).unwrap();
    assert!(log.contains("network: host"), "{log}");
}
