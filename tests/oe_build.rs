//! openembedded-core's own tasks, run by rstore with the user's BitBake in the sandbox
//! (DESIGN.md, "Running the layers' own tasks"), compared with what the real BitBake
//! built from the same layers and downloads (`tests/oe-build/reference/`):
//!
//! - the native bootstrap (`xz-native zlib-native flex-native` and their closure, 11
//!   recipes): every recipe's `do_populate_sysroot` output, and the three targets'
//!   `do_populate_lic`, file by file (paths, types, modes, sizes, contents, symlink
//!   targets) against BitBake's;
//! - a second build directory at another path, with its own store, gives the same
//!   compared outputs (whole output roots are reported: the date and gcc's temporary
//!   file names reach configure's logs in the work directories);
//! - a no-op rebuild runs nothing;
//! - a comment added to a shell task of a native recipe reruns that task alone: hash
//!   equivalence cuts off everything after it.
//!
//! Needs openembedded-core at the reference commit (`RSTORE_OE_CORE_DIR`), a BitBake
//! checkout (`RSTORE_BITBAKE_DIR`) and the offline overlay's downloads
//! (`RSTORE_OE_MIRROR`, filled by `scripts/fetch-offline-sources`), so it is
//! `#[ignore]`d; `scripts/oe-build` sets them up and runs it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{build_records, differences, known_differences, manifest, materialise, oe_core, repo_root, rstore};

/// The recipes of the native bootstrap, as the reference has them.
const RECIPES: [&str; 11] = [
    "autoconf-native",
    "automake-native",
    "flex-native",
    "gettext-minimal-native",
    "gnu-config-native",
    "libtool-native",
    "m4-native",
    "quilt-native",
    "texinfo-dummy-native",
    "xz-native",
    "zlib-native",
];
const TARGETS: [&str; 3] = ["xz-native", "zlib-native", "flex-native"];

fn env_dir(var: &str, what: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("set {var} to {what} (scripts/oe-build sets it up)"));
    assert!(dir.is_dir(), "{var}: {} is not a directory", dir.display());
    dir.canonicalize().unwrap()
}

/// A build directory like the one the reference was made in: openembedded-core's
/// templates, the offline overlay, a PREMIRROR to the downloads, and `extra` (a layer of
/// the test's own, empty at first).
struct OeBuild {
    dir: PathBuf,
    store: PathBuf,
    extra: PathBuf,
}

impl OeBuild {
    fn new(root: &Path, oe: &Path, mirror: &Path, downloads: &Path) -> OeBuild {
        let dir = root.join("build");
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        let extra = root.join("meta-oe-build-test");
        std::fs::create_dir_all(extra.join("conf")).unwrap();
        std::fs::write(
            extra.join("conf/layer.conf"),
            "BBPATH .= \":${LAYERDIR}\"\nBBFILES += \"${LAYERDIR}/recipes-*/*/*.bbappend\"\n\
             BBFILE_COLLECTIONS += \"oe-build-test\"\nBBFILE_PATTERN_oe-build-test = \"^${LAYERDIR}/\"\n\
             BBFILE_PRIORITY_oe-build-test = \"20\"\nLAYERSERIES_COMPAT_oe-build-test = \"blacksail\"\n",
        )
        .unwrap();
        let templates = oe.join("meta/conf/templates/default");
        let mut bblayers = std::fs::read_to_string(templates.join("bblayers.conf.sample"))
            .unwrap()
            .replace("##OEROOT##", &oe.display().to_string());
        bblayers.push_str(&format!(
            "BBLAYERS += \"{} {}\"\n",
            repo_root().join("tests/layers/meta-oe-offline").display(),
            extra.display()
        ));
        std::fs::write(conf.join("bblayers.conf"), bblayers).unwrap();
        let mut local = std::fs::read_to_string(templates.join("local.conf.sample")).unwrap();
        let mirror = mirror.display();
        local.push_str(&format!(
            "MACHINE = \"qemux86-64\"\nBB_NUMBER_THREADS = \"2\"\nPARALLEL_MAKE = \"-j 2\"\n\
             DL_DIR = \"{}\"\n\
             PREMIRRORS:prepend = \"https?://.*/.* file://{mirror}/ git://.*/.* file://{mirror}/ \"\n\
             BB_NO_NETWORK = \"1\"\nINHERIT:remove = \"uninative\"\n",
            downloads.display()
        ));
        std::fs::write(conf.join("local.conf"), local).unwrap();
        OeBuild { dir, store: root.join("store"), extra }
    }

    fn rstore(&self) -> Command {
        let mut cmd = rstore();
        cmd.arg("-C").arg(&self.dir).arg("--store").arg(&self.store);
        cmd
    }

    /// `rstore build --json TARGETS`: each task's record by its id, and the summary.
    fn build(&self) -> (BTreeMap<String, serde_json::Value>, serde_json::Value) {
        self.build_targets(&TARGETS)
    }

    /// The output roots of the compared tasks, every recipe's `do_populate_sysroot` and
    /// `do_populate_lic` of the targets (the only recipes whose graph reaches it), all in the store after [`OeBuild::build`]: nothing runs.
    fn compared_roots(&self) -> BTreeMap<String, serde_json::Value> {
        let targets: Vec<String> = RECIPES
            .iter()
            .map(|pn| format!("{pn}:do_populate_sysroot"))
            .chain(TARGETS.iter().map(|pn| format!("{pn}:do_populate_lic")))
            .collect();
        let (tasks, summary) = self.build_targets(&targets);
        assert_eq!(summary["run"], 0, "the compared tasks were built by the targets' build: {summary}");
        tasks
    }

    fn build_targets(
        &self,
        targets: &[impl AsRef<std::ffi::OsStr> + std::fmt::Debug],
    ) -> (BTreeMap<String, serde_json::Value>, serde_json::Value) {
        let started = std::time::Instant::now();
        let (tasks, summary) = build_records(self.rstore().args(["build", "--json"]).args(targets));
        eprintln!(
            "built {targets:?} in {}: {} run, {} from the store, {} cut off ({:.1}s)",
            self.dir.display(),
            summary["run"],
            summary["local"],
            summary["cutoff"],
            started.elapsed().as_secs_f64()
        );
        (tasks, summary)
    }

    /// The manifest of `subdir` of the tree `root` of the store, through a writable copy
    /// at `dest` (modes as stored), made again when there.
    fn manifest_of(&self, root: &str, dest: &Path, subdir: &str) -> String {
        materialise(&self.store, root, dest);
        manifest(&dest.join(subdir))
    }
}

fn root_of<'a>(tasks: &'a BTreeMap<String, serde_json::Value>, task: &str) -> &'a str {
    tasks.get(task).and_then(|t| t["output_root"].as_str()).unwrap_or_else(|| panic!("no output root for {task}"))
}

#[test]
#[ignore = "needs openembedded-core, BitBake and the offline downloads: scripts/oe-build runs it"]
fn native_bootstrap_matches_bitbake() {
    let oe = oe_core("build the native bootstrap");
    let _ = env_dir("RSTORE_BITBAKE_DIR", "a BitBake checkout (bitbake master at the reference commit)");
    let mirror = env_dir("RSTORE_OE_MIRROR", "the directory scripts/fetch-offline-sources fills");
    // RSTORE_OE_BUILD_KEEP=DIR keeps the build directories and stores in DIR, for a
    // look at them (a rerun finds the earlier builds' outputs in their stores); by
    // default they are temporary.
    let (temporary, root) = match std::env::var_os("RSTORE_OE_BUILD_KEEP") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            let dir = PathBuf::from(dir).canonicalize().unwrap();
            eprintln!("keeping the build directories in {}", dir.display());
            (None, dir)
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            let dir = t.path().to_path_buf();
            (Some(t), dir)
        }
    };
    let downloads = root.join("downloads");
    let a = OeBuild::new(&root.join("a"), &oe, &mirror, &downloads);
    let (tasks, summary) = a.build();
    assert_eq!(summary["failed"], 0);
    if temporary.is_some() {
        assert!(summary["run"].as_u64().unwrap() > 100, "the bootstrap runs its tasks: {summary}");
    }

    // Every recipe's sysroot output, and the targets' licenses, as BitBake made them.
    let reference = repo_root().join("tests/oe-build/reference/native-bootstrap");
    let roots = a.compared_roots();
    let mut known = known_differences(&reference);
    let mut manifests_a = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut compared, mut identical) = (0, 0);
    for pn in RECIPES {
        let checks = [
            ("do_populate_sysroot", "populate_sysroot", format!("sysroots-components/x86_64/{pn}")),
            ("do_populate_lic", "populate_lic", format!("deploy/licenses/x86_64/{pn}")),
        ];
        for (task, kind, subdir) in checks {
            let expected = reference.join(format!("{pn}.{kind}.jsonl"));
            if !expected.is_file() {
                continue;
            }
            let id = format!("{pn}:{task}");
            let actual = a.manifest_of(root_of(&roots, &id), &root.join("out").join(format!("{pn}.{kind}")), &subdir);
            let expected = std::fs::read_to_string(&expected).unwrap();
            let diff = differences(&expected, &actual);
            compared += expected.lines().count();
            identical += expected.lines().count() - diff.values().filter(|(bitbake, _)| bitbake.is_some()).count();
            manifests_a.insert(id.clone(), (subdir.clone(), actual));
            for (path, (bitbake, ours)) in diff {
                match known.remove(&(id.clone(), path.clone())) {
                    Some(why) => eprintln!("known difference: {id} {path}: {why}"),
                    None => failures.push(format!(
                        "{id} ({subdir}) {path} differs from BitBake's:\n  BitBake: {}\n  rstore:  {}",
                        bitbake.as_deref().unwrap_or("(absent)"),
                        ours.as_deref().unwrap_or("(absent)")
                    )),
                }
            }
        }
    }
    for ((id, path), _) in known {
        failures.push(format!("{id} {path} is listed in known-differences.tsv but no longer differs: remove the line"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{identical} of {compared} files identical to BitBake's; the others are known differences");

    // A second build directory elsewhere, with its own store: the same compared outputs.
    let b = OeBuild::new(&root.join("elsewhere/b"), &oe, &mirror, &downloads);
    let (tasks_b, _) = b.build();
    let roots_b = b.compared_roots();
    for (id, (subdir, manifest_a)) in &manifests_a {
        let dest = root.join("out-b").join(id.replace(':', "."));
        let diff = differences(manifest_a, &b.manifest_of(root_of(&roots_b, id), &dest, subdir));
        assert!(diff.is_empty(), "{id} differs between two build directories: {diff:?}");
    }
    // Whole output roots (work directories included) are not all the same: configure's
    // logs record the date and the names of gcc's temporary files (the kernel's
    // randomness), and they stay in the work directory (DESIGN.md).
    let output_roots = |records: [&BTreeMap<String, serde_json::Value>; 2]| -> BTreeMap<String, String> {
        records.into_iter().flatten().map(|(t, v)| (t.clone(), v["output_root"].to_string())).collect()
    };
    let (all_a, all_b) = (output_roots([&tasks, &roots]), output_roots([&tasks_b, &roots_b]));
    let differing: Vec<&String> = all_a.keys().filter(|t| all_a.get(*t) != all_b.get(*t)).collect();
    eprintln!(
        "{} compared outputs identical in two build directories; {} of {} whole task output roots differ \
         (configure's logs: the date, gcc's temporary file names): {differing:?}",
        manifests_a.len(),
        differing.len(),
        all_a.len()
    );

    // A no-op rebuild runs nothing.
    let (_, again) = a.build();
    assert_eq!(again["run"], 0, "a no-op rebuild ran tasks: {again}");

    // A comment in zlib-native's do_install: that task reruns, gives the same output, and
    // hash equivalence cuts off everything that depends on it.
    let append = a.extra.join("recipes-test/zlib/zlib_%.bbappend");
    std::fs::create_dir_all(append.parent().unwrap()).unwrap();
    std::fs::write(&append, "do_install:append:class-native() {\n\t# a comment changes the task's hash\n}\n").unwrap();
    let (after, changed) = a.build();
    assert_eq!(changed["failed"], 0);
    assert_eq!(changed["run"], 1, "only zlib-native:do_install reruns: {changed}");
    assert_eq!(after["zlib-native:do_install"]["resolution"], "ran", "{changed}");
    assert!(changed["cutoff"].as_u64().unwrap() >= 1, "what follows do_install is cut off: {changed}");
    assert_eq!(
        root_of(&after, "zlib-native:do_populate_sysroot"),
        root_of(&roots, "zlib-native:do_populate_sysroot"),
        "the sysroot output is the one built before"
    );

    // A hostile do_fetch: zlib's plants a file in DL_DIR and replaces another recipe's
    // download. Neither reaches DL_DIR; zlib's own download is admitted as before.
    let name_of = |prefix: &str| -> String {
        let mut names: Vec<String> = std::fs::read_dir(&downloads)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix) && n.contains(".tar.") && !n.ends_with(".done"))
            .collect();
        names.sort();
        names.pop().unwrap_or_else(|| panic!("no {prefix}* download in {}", downloads.display()))
    };
    let (victim, own) = (name_of("m4-"), name_of("zlib"));
    let victim_before = std::fs::read_link(downloads.join(&victim)).ok();
    let hostile = |also: &str| {
        format!(
            "do_install:append:class-native() {{\n\t# a comment changes the task's hash\n}}\n\
             python do_fetch:append:class-native() {{\n    import os\n    dl = d.getVar('DL_DIR')\n    \
             open(os.path.join(dl, 'planted-by-zlib'), 'w').write('planted')\n    \
             os.remove(os.path.join(dl, '{victim}'))\n    \
             open(os.path.join(dl, '{victim}'), 'w').write('planted')\n{also}}}\n"
        )
    };
    std::fs::write(&append, hostile("")).unwrap();
    let (_, planted) = a.build_targets(&["zlib-native"]);
    assert_eq!(planted["failed"], 0, "{planted}");
    assert!(!downloads.join("planted-by-zlib").exists(), "a file planted by a fetch task reached DL_DIR");
    assert_eq!(std::fs::read_link(downloads.join(&victim)).ok(), victim_before, "another recipe's download changed");
    assert!(std::fs::read(downloads.join(&victim)).unwrap() != b"planted");
    // Its own download replaced by something else: the task fails, DL_DIR keeps its file.
    let own_before = std::fs::read(downloads.join(&own)).unwrap();
    std::fs::write(
        &append,
        hostile(&format!(
            "    os.remove(os.path.join(dl, '{own}'))\n    open(os.path.join(dl, '{own}'), 'w').write('planted')\n"
        )),
    )
    .unwrap();
    let out = a.rstore().args(["build", "zlib-native"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not match the recipe's checksum"), "{stderr}");
    assert_eq!(std::fs::read(downloads.join(&own)).unwrap(), own_before, "zlib's download changed");

    // A source whose downloads rstore cannot name (BitBake's gitsm fetcher): refused
    // before the task starts, naming the line that allows it.
    std::fs::write(
        &append,
        "SRC_URI:append:class-native = \" gitsm://example.invalid/sub.git;protocol=https;branch=main\"\n\
         SRCREV:class-native = \"0123456789abcdef0123456789abcdef01234567\"\n",
    )
    .unwrap();
    let out = a.rstore().args(["build", "zlib-native"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("zlib-native:do_fetch"), "{stderr}");
    assert!(stderr.contains("RSTORE_ALLOW_UNCHECKED_FETCH += \"zlib-native\""), "{stderr}");
}
