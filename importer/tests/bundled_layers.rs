//! The bundled layers (`layers/`) as rstore reads them, against what real BitBake
//! computes for them: `tests/fidelity/bundled-layers/expected.jsonl` holds, for every
//! recipe and variant BitBake parses in a build directory made from meta-core's
//! default templates, PN, PV, PR, BPN, DEPENDS, PROVIDES, PACKAGES, SRC_URI, S,
//! LICENSE, RDEPENDS:${PN}, FILES and RDEPENDS of every package, and every task with
//! the tasks it runs after and its dependency, noexec, network and rstore-builtin
//! flags. Every one of those values must match.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use rstore_importer::datastore::{DataStore, Read};
use rstore_importer::recipe::Variant;
use rstore_importer::session::{Options, Session};
use serde_json::Value as Json;
use support::{normalise, repo_root, with_big_stack};

const VARS: [&str; 10] = ["PN", "PV", "PR", "BPN", "DEPENDS", "PROVIDES", "PACKAGES", "SRC_URI", "S", "LICENSE"];
const TASK_FLAGS: [&str; 7] = ["deptask", "rdeptask", "recrdeptask", "depends", "noexec", "network", "rstore-builtin"];

/// A build directory for `layers/`, made the way `rstore init` makes one.
fn build_dir(tmp: &Path, layers: &Path) -> std::path::PathBuf {
    let templates = layers.join("meta-core/conf/templates/default");
    let dir = tmp.join("build");
    std::fs::create_dir_all(dir.join("conf")).expect("conf directory");
    let bblayers = std::fs::read_to_string(templates.join("bblayers.conf.sample")).expect("bblayers.conf.sample");
    std::fs::write(dir.join("conf/bblayers.conf"), bblayers.replace("##LAYERSDIR##", &layers.display().to_string()))
        .expect("bblayers.conf");
    std::fs::copy(templates.join("local.conf.sample"), dir.join("conf/local.conf")).expect("local.conf");
    dir
}

struct Checker<'a> {
    topdir: &'a Path,
    layers: &'a Path,
    problems: String,
    checked: usize,
}

impl Checker<'_> {
    fn norm(&self, v: Option<String>) -> Json {
        v.map_or(Json::Null, |s| Json::String(normalise(&s, self.topdir, self.layers)))
    }

    fn compare(&mut self, target: &str, what: &str, want: &Json, got: Json) {
        self.checked += 1;
        if *want != got {
            let _ = writeln!(self.problems, "{target}: {what}\n  bitbake: {want}\n  rstore:  {got}");
        }
    }

    fn var(&self, d: &std::rc::Rc<DataStore>, name: &str) -> Json {
        match d.get_str(name) {
            Ok(v) => self.norm(v),
            Err(e) => Json::String(format!("error: {e}")),
        }
    }

    fn flag(&self, d: &std::rc::Rc<DataStore>, var: &str, flag: &str) -> Json {
        match d.get_var_flag(var, flag, Read::EXPANDED) {
            Ok(v) => self.norm(v.filter(|v| v.truthy()).map(|v| v.to_string())),
            Err(e) => Json::String(format!("error: {e}")),
        }
    }

    fn record(&mut self, target: &str, want: &Json, v: &Variant) {
        let d = &v.data;
        for name in VARS {
            let got = self.var(d, name);
            self.compare(target, name, &want[name], got);
        }
        let pn = d.get_str("PN").ok().flatten().unwrap_or_default();
        let got = self.var(d, &format!("RDEPENDS:{pn}"));
        self.compare(target, "RDEPENDS:${PN}", &want["RDEPENDS:${PN}"], got);

        let packages = want["packages"].as_object().cloned().unwrap_or_default();
        for (pkg, values) in &packages {
            for var in ["FILES", "RDEPENDS"] {
                let got = self.var(d, &format!("{var}:{pkg}"));
                self.compare(target, &format!("{var}:{pkg}"), &values[var], got);
            }
        }

        let want_tasks = want["tasks"].as_object().cloned().unwrap_or_default();
        let got_tasks: BTreeSet<&str> = v.tasks.iter().map(|t| t.name.as_str()).collect();
        let names: BTreeSet<&str> = want_tasks.keys().map(String::as_str).collect();
        self.compare(target, "tasks", &serde_json::json!(names), serde_json::json!(got_tasks));
        for task in &v.tasks {
            let Some(want_task) = want_tasks.get(&task.name) else { continue };
            let mut deps = task.deps.clone();
            deps.sort();
            self.compare(target, &format!("{} deps", task.name), &want_task["deps"], serde_json::json!(deps));
            for flag in TASK_FLAGS {
                let got = self.flag(d, &task.name, flag);
                self.compare(target, &format!("{}[{flag}]", task.name), &want_task[flag], got);
            }
        }
    }
}

#[test]
fn bundled_layers_match_bitbake() {
    let (checked, problems) = with_big_stack(|| {
        let layers = repo_root().join("layers");
        let tmp = tempfile::tempdir().expect("temporary directory");
        let topdir = build_dir(tmp.path(), &layers);
        let session = Session::open(&topdir, &Options::default()).expect("the bundled layers' configuration parses");

        let text = std::fs::read_to_string(repo_root().join("tests/fidelity/bundled-layers/expected.jsonl"))
            .expect("expected.jsonl");
        let mut expected: BTreeMap<String, Json> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let record: Json = serde_json::from_str(line).expect("a JSON line");
            if let Some(target) = record["fn"].as_str() {
                expected.insert(target.to_owned(), record);
            }
        }

        let mut c = Checker { topdir: &topdir, layers: &layers, problems: String::new(), checked: 0 };
        let mut seen = BTreeSet::new();
        for file in &session.files.recipes {
            let variants = match session.parse_file(file) {
                Ok((variants, _, _)) => variants,
                Err(e) => {
                    let _ = writeln!(c.problems, "{}: does not parse: {e}", file.display());
                    continue;
                }
            };
            for v in &variants {
                let target = normalise(&v.virtual_name(file), &topdir, &layers);
                match expected.get(&target) {
                    Some(want) => c.record(&target, want, v),
                    None => {
                        let _ = writeln!(c.problems, "{target}: rstore parses it, BitBake does not");
                    }
                }
                seen.insert(target);
            }
        }
        for target in expected.keys().filter(|t| !seen.contains(*t)) {
            let _ = writeln!(c.problems, "{target}: BitBake parses it, rstore does not");
        }
        (c.checked, c.problems)
    });
    assert!(problems.is_empty(), "rstore and BitBake differ on the bundled layers:\n{problems}");
    assert!(checked > 1000, "only {checked} values were compared");
}
