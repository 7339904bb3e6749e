//! The parse cache through the binary: a second run is served from the cache, and
//! every change to a file a recipe read (the recipe, a class, an include, a
//! `.bbappend`, the configuration) is picked up, re-parsing only the recipes that
//! read it. Files are compared by content, so an edit is seen even when the file's
//! size and time stamp stay the same. The environment counts too, except the variables
//! `BB_HASHCONFIG_IGNORE_VARS` names.

mod common;

use common::{Build, OKAY_LAYERS, rstore};
use serde_json::{Value, json};

const RECIPES: u64 = 18;

/// (files, from_cache, parsed, errors) of `rstore parse --json`.
fn counts(b: &Build) -> (u64, u64, u64, u64) {
    let out = b.run(&["parse", "--json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    (n("files"), n("from_cache"), n("parsed"), n("errors"))
}

/// One variable of one recipe, as `rstore recipes --json` reports it (from the cache).
fn var(b: &Build, pn: &str, name: &str) -> Value {
    let lines = b.json_lines(&["recipes", "--json", "--vars", name, "--only", pn]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0][name].clone()
}

#[test]
fn second_run_is_served_from_the_cache() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));
    assert_eq!(counts(&b), (RECIPES, RECIPES, 0, 0));
    assert!(b.dir.join("cache/rstore/parse-v1.json.zst").is_file());
    // Asking for a variable the cache does not hold parses again, once.
    assert_eq!(var(&b, "okay-filter", "FILTERED_SUFFIX"), json!("x-dev y-dev"));
    assert_eq!(var(&b, "okay-filter", "FILTERED_SUFFIX"), json!("x-dev y-dev"));
    assert_eq!(counts(&b), (RECIPES, RECIPES, 0, 0));
}

#[test]
fn edited_recipe_class_and_include_are_picked_up() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));

    // A recipe: only it is parsed again. Same length, so only the content differs.
    let recipe = "meta-itest/recipes-okay/okay-filter.bb";
    let text = std::fs::read_to_string(b.layer_file(recipe)).unwrap();
    b.write(recipe, &text.replace("FILTERED_SUFFIX = \"x y\"", "FILTERED_SUFFIX = \"p q\""));
    assert_eq!(counts(&b), (RECIPES, RECIPES - 1, 1, 0));
    assert_eq!(var(&b, "okay-filter", "FILTERED_SUFFIX"), json!("p-dev q-dev"));

    // A class: the two recipes that inherit it.
    b.append("meta-itest/classes-recipe/itest_export.bbclass", "EXPORT_CLASS = \"edited\"");
    assert_eq!(counts(&b), (RECIPES, RECIPES - 2, 2, 0));
    assert_eq!(var(&b, "okay-inherit", "EXPORT_CLASS"), json!("edited"));
    assert_eq!(var(&b, "okay-export", "EXPORT_CLASS"), json!("edited"));

    // An include file, two levels down.
    b.append("meta-itest/recipes-okay/inc/okay-includes-nested.inc", "NESTED = \"edited\"");
    assert_eq!(counts(&b), (RECIPES, RECIPES - 1, 1, 0));
    assert_eq!(var(&b, "okay-includes", "NESTED"), json!("edited"));

    // An optional include that did not exist and now does.
    b.write("meta-itest/recipes-okay/okay-includes-missing.inc", "NOW_PRESENT = \"yes\"\n");
    assert_eq!(counts(&b), (RECIPES, RECIPES - 1, 1, 0));
    assert_eq!(var(&b, "okay-includes", "NOW_PRESENT"), json!("yes"));

    // The layer's Python library: every recipe may call it.
    b.append("meta-itest/lib/itestlib/helpers.py", "\ndef whisper(text):\n    return text.lower()");
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));

    // The configuration: everything is parsed again.
    b.append("../build/conf/local.conf", "DISTRO_FEATURES:append = \" d3\"");
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));
    assert_eq!(var(&b, "okay-overrides", "DISTRO_FEATURE"), json!("d2 d3"));
    assert_eq!(counts(&b), (RECIPES, RECIPES, 0, 0));
}

#[test]
fn new_and_removed_files_are_noticed() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));

    // A new .bbappend applies to its recipe.
    b.write("meta-itest-extra/recipes-extra/okay-filter.bbappend", "UNFILTERED += \"appended\"\n");
    assert_eq!(counts(&b), (RECIPES, RECIPES - 1, 1, 0));
    assert_eq!(var(&b, "okay-filter", "UNFILTERED"), json!("c a b appended"));

    // A removed .bbappend no longer applies.
    std::fs::remove_file(b.layer_file("meta-itest-extra/recipes-extra/okay-bbappend_1.%.bbappend")).unwrap();
    assert_eq!(counts(&b), (RECIPES, RECIPES - 1, 1, 0));
    assert_eq!(var(&b, "okay-bbappend", "APPEND_ORDER"), json!("recipe itest-exact extra-any-version"));

    // A new recipe is parsed; a removed one is gone.
    b.write("meta-itest/recipes-okay/okay-new.bb", "LICENSE = \"MIT\"\nNEW = \"new\"\n");
    assert_eq!(counts(&b), (RECIPES + 1, RECIPES, 1, 0));
    assert_eq!(var(&b, "okay-new", "NEW"), json!("new"));
    std::fs::remove_file(b.layer_file("meta-itest/recipes-okay/okay-new.bb")).unwrap();
    std::fs::remove_file(b.layer_file("meta-itest-extra/dynamic-layers/itest/okay-dynamic.bb")).unwrap();
    assert_eq!(counts(&b), (RECIPES - 1, RECIPES - 1, 0, 0));
    assert_eq!(b.ok(&["recipes", "--only", "okay-new,okay-dynamic"]), "");

    // A removed required file makes its recipe fail, and only that recipe.
    std::fs::remove_file(b.layer_file("meta-itest/recipes-okay/inc/okay-includes-required.inc")).unwrap();
    assert_eq!(counts(&b), (RECIPES - 1, RECIPES - 2, 1, 1));
    let err = b.fails(&["parse"]);
    assert!(
        err.contains(
            "error: ${LAYERSDIR}/meta-itest/recipes-okay/okay-includes.bb:8:1: could not include required file \
             inc/okay-includes-required.inc: not found next to the including file or in BBPATH"
        ),
        "{err}"
    );
    // Put back, it parses again.
    b.write("meta-itest/recipes-okay/inc/okay-includes-required.inc", "REQUIRED = \"back\"\n");
    assert_eq!(counts(&b), (RECIPES - 1, RECIPES - 2, 1, 0));
    assert_eq!(var(&b, "okay-includes", "REQUIRED"), json!("back"));
}

#[test]
fn an_unreadable_cache_is_ignored() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));
    std::fs::write(b.dir.join("cache/rstore/parse-v1.json.zst"), b"not a cache").unwrap();
    assert_eq!(counts(&b), (RECIPES, 0, RECIPES, 0));
    assert_eq!(counts(&b), (RECIPES, RECIPES, 0, 0));
}

/// `counts` for `rstore -C DIR parse --json` run from `cwd` with `env` added.
fn counts_with(b: &Build, cwd: &std::path::Path, env: &[(&str, &str)]) -> (u64, u64, u64, u64) {
    let out = rstore()
        .current_dir(cwd)
        .envs(env.iter().copied())
        .arg("-C")
        .arg(&b.dir)
        .args(["parse", "--json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    (n("files"), n("from_cache"), n("parsed"), n("errors"))
}

#[test]
fn environment_in_bb_hashconfig_ignore_vars_keeps_the_cache() {
    let b = Build::new(&OKAY_LAYERS);
    b.append("../build/conf/local.conf", "BB_HASHCONFIG_IGNORE_VARS = \"PWD PATH\"");
    let here = std::env::current_dir().unwrap();
    assert_eq!(counts_with(&b, &here, &[]), (RECIPES, 0, RECIPES, 0));
    // Another directory and another PATH: both ignored, as BitBake's cache ignores them.
    let elsewhere = tempfile::tempdir().unwrap();
    let path = format!("/nonexistent-bin:{}", std::env::var("PATH").unwrap_or_default());
    assert_eq!(counts_with(&b, elsewhere.path(), &[("PATH", &path)]), (RECIPES, RECIPES, 0, 0));
    // An approved variable the configuration does not ignore: everything is parsed again.
    let passed = [("BB_ENV_PASSTHROUGH_ADDITIONS", "ITEST_FROM_ENV"), ("ITEST_FROM_ENV", "1")];
    assert_eq!(counts_with(&b, &here, &passed), (RECIPES, 0, RECIPES, 0));
    assert_eq!(counts_with(&b, &here, &passed), (RECIPES, RECIPES, 0, 0));
}
