//! Golden fixtures of the test layers (`tests/layers`), named by outcome.
//!
//! * `okay-NAME.bb` parses; `okay-NAME.expected` beside it holds what real BitBake
//!   computes for it, one section per variant (`[target]`, `[native]`, …) of
//!   `KEY = JSON` lines: `VAR` is the expanded value and `VAR[flag]` a flag (`null`
//!   when unset), `@tasks` the task list in order, `@deps TASK` the tasks TASK runs
//!   after (sorted), `@inherits` the class files inherited, `@skipped` the reason the
//!   variant is skipped. `okay-targets.expected` lists every recipe and variant BitBake
//!   parses or skips. Paths are written with `${TOPDIR}` (the build directory) and
//!   `${LAYERSDIR}` (the directory holding the layers).
//! * `fail-NAME.bb` does not parse; `fail-NAME.expected` holds the error rstore must
//!   report for it (every one of them is rejected by BitBake too).
//!
//! The okay fixtures are read in a build directory with meta-itest and
//! meta-itest-extra, the fail fixtures in one that adds meta-itest-fail.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rstore_importer::datastore::Read;
use rstore_importer::recipe::Variant;
use rstore_importer::session::{Options, Session};
use rstore_importer::value::Value;
use serde_json::Value as Json;
use support::{FAIL_LAYERS, OKAY_LAYERS, TestLayers, files_below, normalise, with_big_stack};

/// One `[variant]` section of an `.expected` file.
struct Section {
    variant: String,
    /// (key, expected JSON value, line number)
    items: Vec<(String, Json, usize)>,
}

fn read_expected(path: &Path) -> Vec<Section> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut sections: Vec<Section> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(Section { variant: name.to_owned(), items: Vec::new() });
            continue;
        }
        let (key, value) = line.split_once(" = ").unwrap_or_else(|| panic!("{at}: expected `KEY = JSON`"));
        let value: Json = serde_json::from_str(value).unwrap_or_else(|e| panic!("{at}: bad JSON value: {e}"));
        sections.last_mut().unwrap_or_else(|| panic!("{at}: a value before the first [variant]")).items.push((
            key.to_owned(),
            value,
            i + 1,
        ));
    }
    sections
}

fn json_of(v: Option<Value>) -> Json {
    match v {
        None | Some(Value::None) => Json::Null,
        Some(Value::Bool(b)) => Json::Bool(b),
        Some(Value::List(items)) | Some(Value::Tuple(items)) => {
            Json::Array(items.iter().map(|i| json_of(Some(i.clone()))).collect())
        }
        Some(other) => Json::String(other.to_string()),
    }
}

fn normalise_json(v: Json, topdir: &Path, layers: &Path) -> Json {
    match v {
        Json::String(s) => Json::String(normalise(&s, topdir, layers)),
        Json::Array(items) => Json::Array(items.into_iter().map(|i| normalise_json(i, topdir, layers)).collect()),
        other => other,
    }
}

/// What rstore says for one key of a variant.
fn actual(v: &Variant, key: &str) -> Json {
    let d = &v.data;
    match key {
        "@skipped" => v.skipped.clone().map_or(Json::Null, Json::String),
        "@tasks" => Json::Array(v.tasks.iter().map(|t| Json::String(t.name.clone())).collect()),
        "@inherits" => {
            json_of(Some(Value::list_of_strs(rstore_importer::eval::inherit_cache(d).expect("__inherit_cache"))))
        }
        _ => {
            if let Some(task) = key.strip_prefix("@deps ") {
                return match v.tasks.iter().find(|t| t.name == task) {
                    Some(t) => {
                        let mut deps = t.deps.clone();
                        deps.sort();
                        Json::Array(deps.into_iter().map(Json::String).collect())
                    }
                    None => Json::Null,
                };
            }
            let read = match key.strip_suffix(']').and_then(|k| k.split_once('[')) {
                Some((var, flag)) => d.get_var_flag(var, flag, Read::EXPANDED),
                None => d.get_var(key, true),
            };
            match read {
                Ok(value) => json_of(value),
                Err(e) => Json::String(format!("error: {e}")),
            }
        }
    }
}

fn section_name(variant: &str) -> &str {
    if variant.is_empty() { "target" } else { variant }
}

fn recipe_of(expected: &Path) -> PathBuf {
    expected.with_extension("bb")
}

/// The `.expected` files of the meta-itest layers (other layers of `tests/layers`
/// belong to other tests).
fn fixtures(layers: &Path, prefix: &str) -> Vec<PathBuf> {
    files_below(layers, &|p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let layer = p.strip_prefix(layers).ok().and_then(|r| r.iter().next()).map(|c| c.to_string_lossy().into_owned());
        layer.is_some_and(|l| l.starts_with("meta-itest"))
            && name.starts_with(prefix)
            && name.ends_with(".expected")
            && name != "okay-targets.expected"
    })
}

fn check_okay(t: &TestLayers, problems: &mut String) -> usize {
    let topdir = t.build_dir("build-okay", &OKAY_LAYERS);
    let session = Session::open(&topdir, &Options::default()).expect("the okay build directory opens");
    let mut checked = 0;

    // The recipes BitBake parses or skips, with the reasons.
    let mut targets = Vec::new();
    for file in &session.files.recipes {
        let variants = match session.parse_file(file) {
            Ok((variants, _, _)) => variants,
            Err(e) => {
                let _ = writeln!(problems, "{}: does not parse: {e}", file.display());
                continue;
            }
        };
        for v in &variants {
            let name = normalise(&v.virtual_name(file), &topdir, &t.layers);
            targets.push(match &v.skipped {
                Some(reason) => format!("skipped {name}: {reason}"),
                None => format!("parsed {name}"),
            });
        }
    }
    targets.sort();
    let expected_targets: Vec<String> = std::fs::read_to_string(t.layers.join("okay-targets.expected"))
        .expect("okay-targets.expected")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    checked += expected_targets.len();
    if targets != expected_targets {
        let _ = writeln!(
            problems,
            "okay-targets.expected: recipes and variants differ\n  expected: {expected_targets:#?}\n  rstore:   {targets:#?}"
        );
    }

    for expected in fixtures(&t.layers, "okay-") {
        let recipe = recipe_of(&expected);
        let rel = expected.strip_prefix(&t.layers).unwrap_or(&expected).display().to_string();
        let variants = match session.parse_file(&recipe) {
            Ok((variants, _, _)) => variants,
            Err(e) => {
                let _ = writeln!(problems, "{rel}: the recipe does not parse: {e}");
                continue;
            }
        };
        let by_name: BTreeMap<&str, &Variant> = variants.iter().map(|v| (section_name(&v.name), v)).collect();
        for section in read_expected(&expected) {
            let Some(v) = by_name.get(section.variant.as_str()) else {
                let _ = writeln!(problems, "{rel}: rstore has no variant [{}]", section.variant);
                continue;
            };
            for (key, want, line) in &section.items {
                checked += 1;
                let got = normalise_json(actual(v, key), &topdir, &t.layers);
                if &got != want {
                    let _ = writeln!(
                        problems,
                        "{rel}:{line} [{}] {key}\n  bitbake: {want}\n  rstore:  {got}",
                        section.variant
                    );
                }
            }
        }
    }
    checked
}

fn check_fail(t: &TestLayers, problems: &mut String) -> usize {
    let topdir = t.build_dir("build-fail", &FAIL_LAYERS);
    let session = Session::open(&topdir, &Options::default()).expect("the fail build directory opens");
    let mut checked = 0;
    for expected in fixtures(&t.layers, "fail-") {
        checked += 1;
        let recipe = recipe_of(&expected);
        let rel = expected.strip_prefix(&t.layers).unwrap_or(&expected).display().to_string();
        let want: String = std::fs::read_to_string(&expected)
            .expect("fail fixture")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        match session.parse_file(&recipe) {
            Ok(_) => {
                let _ = writeln!(problems, "{rel}: the recipe parses, but must fail with:\n{want}");
            }
            Err(e) => {
                let got = normalise(&e.to_string(), &topdir, &t.layers);
                if got.trim_end() != want.trim_end() {
                    let _ = writeln!(problems, "{rel}: a different error\n--- expected\n{want}\n--- rstore\n{got}");
                }
            }
        }
    }
    checked
}

#[test]
fn golden_fixtures() {
    let (checked, problems) = with_big_stack(|| {
        let t = TestLayers::new();
        let mut problems = String::new();
        let mut checked = check_okay(&t, &mut problems);
        checked += check_fail(&t, &mut problems);
        (checked, problems)
    });
    assert!(problems.is_empty(), "golden fixtures that do not match:\n{problems}");
    assert!(checked > 300, "only {checked} expectations were checked");
}

#[test]
fn every_fixture_has_its_counterpart() {
    let layers = support::repo_root().join("tests/layers");
    let recipes: Vec<PathBuf> = ["meta-itest", "meta-itest-extra", "meta-itest-fail"]
        .iter()
        .flat_map(|l| {
            files_below(&layers.join(l), &|p: &Path| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name.starts_with("okay-") || name.starts_with("fail-")) && name.ends_with(".bb")
            })
        })
        .collect();
    assert!(recipes.len() > 30, "{recipes:?}");
    for recipe in &recipes {
        assert!(recipe.with_extension("expected").is_file(), "{} has no .expected beside it", recipe.display());
    }
    for expected in fixtures(&layers, "okay-").into_iter().chain(fixtures(&layers, "fail-")) {
        assert!(recipe_of(&expected).is_file(), "{} has no recipe beside it", expected.display());
    }
}
