//! End-to-end tests of the metadata commands (`init`, `layers`, `recipes`, `parse`,
//! `getvar`, `env`) on the test layers, with the build directory given by `-C` or
//! taken from the current directory. The values asserted here are the ones real
//! BitBake computes for the same layers (see the `okay-*.expected` fixtures).

mod common;

use std::fs;

use common::{Build, OKAY_LAYERS, filter_time, repo_root, rstore, squeeze};
use serde_json::json;

#[test]
fn init_creates_a_build_directory_and_keeps_existing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = repo_root().join("layers").canonicalize().unwrap();
    let run = |args: &[&str]| {
        let out = rstore().current_dir(tmp.path()).args(args).output().unwrap();
        common::assert_no_crash(&out, "rstore init");
        assert!(out.status.success(), "rstore {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let filter = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.path().display().to_string(), "[TMP]");
        (filter(&out.stdout), filter(&out.stderr))
    };

    // Without arguments: ./build, with the bundled layers.
    let (stdout, stderr) = run(&["init"]);
    assert_eq!(stdout, "created build/conf/bblayers.conf\ncreated build/conf/local.conf\n");
    assert!(stderr.contains("rstore-image-minimal"), "the notes name the targets:\n{stderr}");
    let templates = layers.join("meta-core/conf/templates/default");
    let bblayers = fs::read_to_string(tmp.path().join("build/conf/bblayers.conf")).unwrap();
    let sample = fs::read_to_string(templates.join("bblayers.conf.sample")).unwrap();
    assert_eq!(bblayers, sample.replace("##LAYERSDIR##", &layers.display().to_string()));
    assert!(!bblayers.contains("##"), "{bblayers}");
    assert_eq!(
        fs::read_to_string(tmp.path().join("build/conf/local.conf")).unwrap(),
        fs::read_to_string(templates.join("local.conf.sample")).unwrap()
    );

    // Existing files are kept as they are; a missing one is created again.
    let local = tmp.path().join("build/conf/local.conf");
    fs::write(&local, "MACHINE = \"mine\"\n").unwrap();
    fs::remove_file(tmp.path().join("build/conf/bblayers.conf")).unwrap();
    let (stdout, stderr) = run(&["init", "build"]);
    assert_eq!(stdout, "created build/conf/bblayers.conf\n");
    assert!(stderr.contains("keeping existing build/conf/local.conf"), "{stderr}");
    assert_eq!(fs::read_to_string(&local).unwrap(), "MACHINE = \"mine\"\n");
    let (stdout, stderr) = run(&["init", "build"]);
    assert_eq!(stdout, "");
    assert!(stderr.contains("keeping existing build/conf/bblayers.conf"), "{stderr}");

    // --layers names another layers directory; the result is a working build directory.
    let (stdout, _) = run(&["init", "other", "--layers", &layers.display().to_string()]);
    assert_eq!(stdout, "created other/conf/bblayers.conf\ncreated other/conf/local.conf\n");
    let out = rstore().arg("-C").arg(tmp.path().join("other")).args(["parse", "--json"]).output().unwrap();
    common::assert_no_crash(&out, "rstore parse");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["files"].as_u64(), report["errors"].as_u64()), (Some(8), Some(0)), "{report}");
    assert_eq!(report["targets"], 16, "{report}");

    // A layers directory without meta-core is refused.
    let out = rstore().current_dir(tmp.path()).args(["init", "third", "--layers", "/nonexistent"]).output().unwrap();
    common::assert_no_crash(&out, "rstore init");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: reading /nonexistent"));
}

#[test]
fn layers_text_and_json() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(
        squeeze(&b.ok(&["layers"])),
        "Read as BitBake 2.19 (no BitBake checkout or release series found)\n\n\
         layer path priority\n\
         ==========================================================================================\n\
         itest ${LAYERSDIR}/meta-itest 5\n\
         itestextra ${LAYERSDIR}/meta-itest-extra 6"
    );
    // meta-itest-extra sets no BBFILE_PRIORITY: one more than the layer it depends on,
    // as bitbake-layers show-layers reports for the same layers.
    assert_eq!(
        b.json_lines(&["layers", "--json"]),
        vec![
            json!({"name": "itest", "pattern": "^${LAYERSDIR}/meta-itest/", "priority": 5, "depends": [],
                   "version": "3", "compat": ["itest-1"], "path": "${LAYERSDIR}/meta-itest"}),
            json!({"name": "itestextra", "pattern": "^${LAYERSDIR}/meta-itest-extra/", "priority": 6,
                   "depends": ["itest"], "version": "1", "compat": ["itest-0", "itest-1"],
                   "path": "${LAYERSDIR}/meta-itest-extra"}),
        ]
    );
}

#[test]
fn recipes_lists_every_recipe_and_variant() {
    let b = Build::new(&OKAY_LAYERS);
    // BBMASK leaves recipes-masked out; BBFILES_DYNAMIC adds the recipes for the
    // enabled collection and for the absent one's "!absent" entry; skipped variants
    // show their reason (the same list as okay-targets.expected).
    assert_eq!(
        squeeze(&b.ok(&["recipes"])),
        "okay-bbappend 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-bbappend_1.0.bb
okay-classes 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-classes.bb
okay-edge 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-edge.bb
okay-export 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-export.bb
okay-filter 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-filter.bb
okay-handler 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-handler.bb
okay-includes 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-includes.bb
okay-inherit 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-inherit.bb
okay-operators 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-operators.bb
okay-overrides 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-overrides.bb
okay-overrides-native 1.0 itest virtual:native:${LAYERSDIR}/meta-itest/recipes-okay/okay-overrides.bb
nativesdk-okay-overrides 1.0 itest virtual:nativesdk:${LAYERSDIR}/meta-itest/recipes-okay/okay-overrides.bb
okay-python-api 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-python-api.bb
okay-skip-variant 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-skip-variant.bb
okay-skip-variant-native 1.0 itest skipped: no native variant of okay-skip-variant-native
nativesdk-okay-skip-variant 1.0 itest virtual:nativesdk:${LAYERSDIR}/meta-itest/recipes-okay/okay-skip-variant.bb
okay-skip 1.0 itest skipped: skipped by okay-skip: okay-skip
okay-tasks 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-tasks.bb
okay-unset 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-unset.bb
okay-layers 1.0 itestextra ${LAYERSDIR}/meta-itest-extra/recipes-extra/okay-layers.bb
okay-dynamic 1.0 itestextra ${LAYERSDIR}/meta-itest-extra/dynamic-layers/itest/okay-dynamic.bb
okay-dynamic-inverted 1.0 itestextra ${LAYERSDIR}/meta-itest-extra/dynamic-layers/not-absent/okay-dynamic-inverted.bb"
    );
}

#[test]
fn recipes_json_with_vars_tasks_inherits_and_only() {
    let b = Build::new(&OKAY_LAYERS);
    let lines = b.json_lines(&[
        "recipes",
        "--json",
        "--vars",
        "RDEPENDS:${PN},DEPENDS,OV_CLASS,NOT_SET",
        "--tasks",
        "--inherits",
        "--only",
        "okay-overrides,okay-overrides-native,nativesdk-okay-overrides",
    ]);
    let tasks = json!([
        {"task": "do_fetch", "deps": [], "depends": ""},
        {"task": "do_compile", "deps": ["do_fetch"], "depends": ""},
        {"task": "do_install", "deps": ["do_compile"], "depends": ""},
        {"task": "do_build", "deps": ["do_install"], "depends": "", "noexec": "1"},
    ]);
    let base = [
        "${LAYERSDIR}/meta-itest/classes-global/base.bbclass",
        "${LAYERSDIR}/meta-itest/classes-global/itest_global.bbclass",
    ];
    let file = "${LAYERSDIR}/meta-itest/recipes-okay/okay-overrides.bb";
    let record = |variant: &str, pn: &str, rdepends: &str, depends: &str, ov_class: &str, class: Option<&str>| {
        let target = if variant.is_empty() { file.to_owned() } else { format!("virtual:{variant}:{file}") };
        let mut inherits: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
        if let Some(c) = class {
            inherits.push(format!("${{LAYERSDIR}}/meta-itest/classes-recipe/{c}.bbclass"));
        }
        json!({
            "target": target, "file": file, "variant": variant, "layer": "itest", "skipped": false,
            "PN": pn, "PV": "1.0", "PR": "r0", "PE": "",
            "RDEPENDS:${PN}": rdepends, "DEPENDS": depends, "OV_CLASS": ov_class, "NOT_SET": null,
            "inherits": inherits, "tasks": tasks,
        })
    };
    assert_eq!(
        lines,
        vec![
            record("", "okay-overrides", "rdep-a rdep-target", "libfoo", "target", None),
            record("native", "okay-overrides-native", "rdep-a", "libfoo-native", "native", Some("native")),
            record("nativesdk", "nativesdk-okay-overrides", "rdep-a", "libfoo", "nativesdk", Some("nativesdk")),
        ]
    );

    // Text: the variables, the classes and each task with what it runs after and its flags.
    assert_eq!(
        squeeze(&b.ok(&["recipes", "--vars", "DEF_CALL,NOT_SET", "--tasks", "--inherits", "--only", "okay-tasks"])),
        "okay-tasks 1.0 itest ${LAYERSDIR}/meta-itest/recipes-okay/okay-tasks.bb
DEF_CALL = \"def:okay-tasks\"
NOT_SET = (unset)
inherits: ${LAYERSDIR}/meta-itest/classes-global/base.bbclass ${LAYERSDIR}/meta-itest/classes-global/itest_global.bbclass
do_fetch after []
do_compile after [do_fetch]
do_install after [do_itest do_compile]
do_build after [do_itest_third do_install] noexec=\"1\"
do_itest after [do_compile] depends=\"okay-operators:do_fetch\" nostamp=\"1\"
do_itest_second after [do_itest do_fetch] deptask=\"do_install\"
do_itest_third after [] fakeroot=\"1\" noexec=\"1\"
do_itest_multi_a after [do_fetch] fakeroot=\"1\""
    );

    // A skipped recipe in JSON: its reason, and no values.
    let skipped = b.json_lines(&["recipes", "--json", "--vars", "DEPENDS", "--only", "okay-skip"]);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["skipped"], true);
    assert_eq!(skipped[0]["skipreason"], "skipped by okay-skip: okay-skip");
    assert_eq!(skipped[0]["DEPENDS"], serde_json::Value::Null);

    assert_eq!(b.ok(&["recipes", "--only", "no-such-recipe"]), "");
}

#[test]
fn parse_reports_counts() {
    let b = Build::new(&OKAY_LAYERS);
    let report = b.json(&["parse", "--json"]);
    let counts: Vec<_> = ["files", "targets", "skipped", "masked", "errors", "from_cache", "parsed"]
        .iter()
        .map(|k| &report[k])
        .collect();
    assert_eq!(counts, [&json!(18), &json!(22), &json!(2), &json!(1), &json!(0), &json!(0), &json!(18)]);
    assert_eq!(report["failures"], json!([]));
    assert_eq!(
        report["warnings"],
        json!([
            "${LAYERSDIR}/meta-itest/recipes-okay/okay-edge.bb: variable key KEY_${KEY_SUFFIX} ( appended) replaces original key KEY_suffix (set directly)"
        ])
    );
    assert_eq!(
        filter_time(&b.ok(&["parse"])),
        "Parsed 18 .bb files (18 from cache, 0 parsed): 22 targets, 2 skipped, 1 masked, 0 errors in [TIME]"
    );
    assert_eq!(
        filter_time(&b.ok(&["parse", "--no-cache", "-j", "1"])),
        "Parsed 18 .bb files (0 from cache, 18 parsed): 22 targets, 2 skipped, 1 masked, 0 errors in [TIME]"
    );
}

#[test]
fn getvar_of_the_configuration_and_of_recipes() {
    let b = Build::new(&OKAY_LAYERS);
    assert_eq!(b.ok(&["getvar", "MACHINE"]), "MACHINE=\"itest-machine\"\n");
    assert_eq!(b.ok(&["getvar", "MACHINE", "--value"]), "itest-machine\n");
    assert_eq!(b.ok(&["getvar", "CONFIG_HANDLER_SAW"]), "CONFIG_HANDLER_SAW=\"MACHINE=itest-machine\"\n");
    assert_eq!(b.ok(&["getvar", "okay-overrides", "OV"]), "OV=\"arch\"\n");
    assert_eq!(b.ok(&["getvar", "okay-overrides-native", "OV_CLASS", "--value"]), "native\n");
    assert_eq!(b.ok(&["getvar", "nativesdk-okay-overrides", "PN", "--value"]), "nativesdk-okay-overrides\n");
    let path = b.layer_file("meta-itest/recipes-okay/okay-overrides.bb").display().to_string();
    assert_eq!(b.ok(&["getvar", &path, "OV_CLASS", "--value"]), "target\n");
    assert_eq!(b.ok(&["getvar", &format!("virtual:native:{path}"), "PN", "--value"]), "okay-overrides-native\n");
    assert_eq!(b.ok(&["getvar", "okay-operators", "FLAGGED", "--flag", "doc"]), "FLAGGED[doc]=\"the doc more!\"\n");
    assert_eq!(
        b.ok(&["getvar", "okay-operators", "FLAGGED", "-f", "lazy", "--unexpand"]),
        "FLAGGED[lazy]=\"${SET}\"\n"
    );
    assert_eq!(
        b.ok(&["getvar", "okay-tasks", "do_itest", "--flag", "depends", "--value"]),
        "okay-operators:do_fetch\n"
    );

    assert_eq!(
        b.json(&["getvar", "okay-bbappend", "APPEND_ORDER", "--json"]),
        json!({
            "variable": "APPEND_ORDER", "flag": null, "value": "recipe itest-exact extra-any-version extra-1.x",
            "history": [
                {"op": "set", "file": "${LAYERSDIR}/meta-itest/recipes-okay/okay-bbappend_1.0.bb", "line": 5, "flag": null, "detail": "recipe"},
                {"op": "append", "file": "${LAYERSDIR}/meta-itest/recipes-okay/okay-bbappend_1.0.bbappend", "line": 1, "flag": null, "detail": "itest-exact"},
                {"op": "append", "file": "${LAYERSDIR}/meta-itest-extra/recipes-extra/okay-bbappend_%.bbappend", "line": 1, "flag": null, "detail": "extra-any-version"},
                {"op": "append", "file": "${LAYERSDIR}/meta-itest-extra/recipes-extra/okay-bbappend_1.%.bbappend", "line": 1, "flag": null, "detail": "extra-1.x"},
            ],
        })
    );

    // Unset variables and unknown recipes fail with a message.
    assert_eq!(b.fails(&["getvar", "NOT_SET_ANYWHERE"]), "NOT_SET_ANYWHERE is not set\n");
    let err = b.fails(&["getvar", "no-such-recipe", "PN"]);
    assert!(err.starts_with("error: no recipe named no-such-recipe: give a PN"), "{err}");
    // A skipped recipe still has values; rstore says it is skipped.
    let out = b.run(&["getvar", "okay-skip", "PN"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PN=\"okay-skip\"\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "note: okay-skip is skipped: skipped by okay-skip: okay-skip\n");
}

/// The history of a variable, as `bitbake-getvar` prints it for the same layers: each
/// operation with its file:line and the value as written.
#[test]
fn getvar_finds_a_recipe_by_a_pn_its_file_name_does_not_give() {
    // As openembedded-core's binutils-cross_2.47.bb sets PN = "binutils-cross-${TARGET_ARCH}".
    let b = Build::new(&OKAY_LAYERS);
    b.write("meta-itest/recipes-okay/renamed-file.bb", "PN = \"renamed-${MACHINE}\"\nVALUE = \"found\"\n");
    let err = b.fails(&["getvar", "renamed-itest-machine", "VALUE"]);
    assert!(err.contains("no recipe named renamed-itest-machine") && err.contains("`rstore parse`"), "{err}");
    b.ok(&["parse"]);
    assert_eq!(b.ok(&["getvar", "renamed-itest-machine", "VALUE", "--value"]), "found\n");
    assert_eq!(b.ok(&["getvar", "renamed-file", "PN", "--value"]), "renamed-itest-machine\n");
}

#[test]
fn getvar_history_names_every_file_and_line() {
    let b = Build::new(&OKAY_LAYERS);
    let recipe = "${LAYERSDIR}/meta-itest/recipes-okay/okay-operators.bb";
    assert_eq!(
        b.ok(&["getvar", "okay-operators", "MIXED", "--history"]),
        format!(
            "#\n# $MIXED [7 operations]\n\
             #   set {recipe}:49\n#     \"2\"\n\
             #   :append {recipe}:50\n#     \" 5\"\n\
             #   append {recipe}:51\n#     \"3\"\n\
             #   :prepend {recipe}:52\n#     \"0 \"\n\
             #   prepend {recipe}:53\n#     \"1\"\n\
             #   postdot {recipe}:54\n#     \" 4\"\n\
             #   :append {recipe}:55\n#     \" 6\"\n\
             # pre-expansion value:\n#   \"0 1 2 3 4 5 6\"\n\
             MIXED=\"0 1 2 3 4 5 6\"\n"
        )
    );
    // :remove and conditional operations name their override.
    let recipe = "${LAYERSDIR}/meta-itest/recipes-okay/okay-overrides.bb";
    let history = b.ok(&["getvar", "okay-overrides", "RM", "--history"]);
    for line in [
        format!("#   set {recipe}:56\n#     \"a b c d a e\""),
        format!("#   :remove {recipe}:57\n#     \"a\""),
        format!("#   :remove[itestos] {recipe}:58\n#     \"c\""),
        format!("#   :remove[class-native] {recipe}:59\n#     \"d\""),
        format!("#   :remove {recipe}:60\n#     \"${{RM_LATER}}\""),
    ] {
        assert!(history.contains(&line), "{line}\nnot in\n{history}");
    }
    assert!(history.ends_with("RM=\" b  d  \"\n"), "{history}");

    // Configuration level: bitbake.conf's operators, in order.
    let conf = "${LAYERSDIR}/meta-itest/conf/bitbake.conf";
    assert_eq!(
        b.ok(&["getvar", "CONF_LIST", "--history"]),
        format!(
            "#\n# $CONF_LIST [5 operations]\n\
             #   set {conf}:43\n#     \"b\"\n\
             #   append {conf}:44\n#     \"c\"\n\
             #   prepend {conf}:45\n#     \"a\"\n\
             #   postdot {conf}:46\n#     \"d\"\n\
             #   predot {conf}:47\n#     \"0\"\n\
             # pre-expansion value:\n#   \"0a b cd\"\n\
             CONF_LIST=\"0a b cd\"\n"
        )
    );
}

#[test]
fn env_prints_every_variable_and_shell_function() {
    let b = Build::new(&OKAY_LAYERS);
    let env = b.ok(&["env", "okay-tasks"]);
    for expected in [
        "\nINLINE=\"inline\"\n",
        "\nDEF_CALL=\"def:okay-tasks\"\n",
        "\nexport CONF_EXPORTED=\"exported\"\n",
        "\ndo_itest_second() {\n\techo \"second: okay-tasks\"\n\t# a shell comment with a brace {\n}\n",
    ] {
        assert!(env.contains(expected), "{expected:?} not in rstore env okay-tasks");
    }
    // Python functions are not shell code: bitbake -e leaves them out too.
    assert!(!env.contains("do_itest()"), "do_itest is a Python function");
    let config = b.ok(&["env"]);
    assert!(config.contains("\nMACHINE=\"itest-machine\"\n"));
    let history = b.ok(&["env", "--history"]);
    assert!(
        history.contains("#   set ${LAYERSDIR}/meta-itest/conf/bitbake.conf:36\n#     \"set\"\n"),
        "the history of CONF_SET is shown"
    );
}

#[test]
fn build_dir_from_option_or_current_directory() {
    let b = Build::new(&OKAY_LAYERS);
    let from_option = b.ok(&["getvar", "okay-overrides", "OV_PN"]);
    let out = rstore().current_dir(&b.dir).args(["getvar", "okay-overrides", "OV_PN"]).output().unwrap();
    common::assert_no_crash(&out, "rstore getvar");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), from_option);
    assert_eq!(from_option, "OV_PN=\"pn\"\n");

    // -C relative to the current directory.
    let out =
        rstore().current_dir(b.tmp.path()).args(["-C", "build", "getvar", "MACHINE", "--value"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "itest-machine\n");

    // A directory that is not a build directory.
    let out = rstore().current_dir(&b.layers).args(["getvar", "MACHINE"]).output().unwrap();
    common::assert_no_crash(&out, "rstore getvar");
    assert_eq!(out.status.code(), Some(1));
    let err = b.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        err,
        "error: reading the configuration of ${LAYERSDIR}: ${LAYERSDIR} has no conf/bblayers.conf: expected a BitBake build directory (create one with `rstore init`)\n"
    );
}

/// Which BitBake the layers are read as: the checkout `RSTORE_BITBAKE_DIR` names (its
/// `bb.__version__`), else the core layer's series; releases rstore does not read are
/// refused by name; and the rules follow the release (the default multiconfig's name,
/// the directives there are).
#[test]
fn layers_are_read_as_the_bitbake_they_are_written_for() {
    let b = Build::new(&OKAY_LAYERS);
    let checkout = b.tmp.path().join("bitbake");
    fs::create_dir_all(checkout.join("lib/bb")).unwrap();
    let run_in = |dir: &std::path::Path, version: &str, args: &[&str]| {
        fs::write(checkout.join("lib/bb/__init__.py"), format!("__version__ = \"{version}\"\n")).unwrap();
        let out = rstore().arg("-C").arg(dir).args(args).env("RSTORE_BITBAKE_DIR", &checkout).output().unwrap();
        common::assert_no_crash(&out, "rstore");
        let text =
            |bytes: &[u8]| b.filter(&String::from_utf8_lossy(bytes)).replace(&checkout.display().to_string(), "[BB]");
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let with_checkout = |version: &str, args: &[&str]| run_in(&b.dir, version, args);
    let (code, stdout, _) = with_checkout("2.19.0", &["layers"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("Read as BitBake 2.19.0 (the BitBake checkout [BB])\n"), "{stdout}");
    let json = with_checkout("2.12.1", &["parse", "--json"]).1;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["bitbake"], json!({"version": "2.12.1", "origin": {"from": "checkout", "dir": "[BB]"}}));
    // The test layers use include_all, which BitBake 2.8 does not have.
    let (code, _, stderr) = with_checkout("2.8.1", &["layers"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("include_all is not a directive of BitBake 2.8.1") && stderr.contains("needs 2.12"),
        "{stderr}"
    );
    for version in ["1.52.0", "2.20.1"] {
        let (code, _, stderr) = with_checkout(version, &["layers"]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("BitBake {version} (the BitBake checkout [BB]) is not supported"))
                && stderr.contains("2.0 (kirkstone) to 2.19 (master)"),
            "{stderr}"
        );
    }

    // A layer written like openembedded-core up to scarthgap: it requires
    // conf/multiconfig/${BB_CURRENT_MC}.conf, which BitBake up to 2.10 names "default".
    let old = b.tmp.path().join("old");
    let layer = old.join("meta-old");
    fs::create_dir_all(layer.join("conf/multiconfig")).unwrap();
    fs::create_dir_all(old.join("build/conf")).unwrap();
    fs::write(
        layer.join("conf/layer.conf"),
        "BBPATH .= \":${LAYERDIR}\"\nBBFILE_COLLECTIONS += \"old\"\nBBFILE_PATTERN_old = \"^${LAYERDIR}/\"\n\
         LAYERSERIES_CORENAMES = \"scarthgap\"\nLAYERSERIES_COMPAT_old = \"scarthgap\"\n",
    )
    .unwrap();
    fs::write(
        layer.join("conf/bitbake.conf"),
        "require conf/multiconfig/${BB_CURRENT_MC}.conf\nrequire conf/local-flags.conf\n",
    )
    .unwrap();
    fs::write(layer.join("conf/multiconfig/default.conf"), "MC_SEEN = \"default\"\n").unwrap();
    // BitBake 2.12 made `VAR[flag] ??=` a weak default; before, it sets the flag.
    fs::write(layer.join("conf/local-flags.conf"), "FLAGGED[doc] = \"a\"\nFLAGGED[doc] ??= \"b\"\n").unwrap();
    fs::create_dir_all(layer.join("classes")).unwrap();
    fs::write(layer.join("classes/base.bbclass"), "").unwrap();
    fs::write(old.join("build/conf/local.conf"), "").unwrap();
    fs::write(
        old.join("build/conf/bblayers.conf"),
        format!("BBPATH = \"${{TOPDIR}}\"\nBBFILES ?= \"\"\nBBLAYERS = \"{}\"\n", layer.display()),
    )
    .unwrap();
    let build = old.join("build");
    let (code, stdout, stderr) = run_in(&build, "2.8.1", &["getvar", "MC_SEEN", "--value"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "default\n"), "{stderr}");
    let (code, _, stderr) = run_in(&build, "2.19.0", &["getvar", "MC_SEEN", "--value"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("could not include required file conf/multiconfig/.conf"), "{stderr}");
    assert!(
        stderr.contains("series scarthgap is written for BitBake 2.8, but the BitBake checkout [BB] is 2.19.0"),
        "{stderr}"
    );
    // Without a checkout, the series decides; an old one is refused by name.
    let out = rstore().arg("-C").arg(&build).args(["layers"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Read as BitBake 2.8 (the core layer's series scarthgap)")
    );
    let conf = layer.join("conf/layer.conf");
    let text = fs::read_to_string(&conf).unwrap().replace("\"scarthgap\"", "\"honister\"");
    fs::write(&conf, text).unwrap();
    let out = rstore().arg("-C").arg(&build).args(["layers"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("BitBake 1.52.0 (the core layer's series honister) is not supported"), "{err}");
}

/// `include`/`require` of a `.conf` whose name part expanded to nothing, as
/// `conf/multiconfig/${BB_CURRENT_MC}.conf` does without multiconfig: BitBake takes
/// it for a configuration file that does not exist, so `include` goes on and
/// `require` fails naming it.
#[test]
fn including_a_conf_file_with_an_empty_name() {
    let b = Build::new(&OKAY_LAYERS);
    b.append("meta-itest/conf/layer.conf", "EMPTY_NAME = \"\"\ninclude conf/nothing/${EMPTY_NAME}.conf");
    assert_eq!(b.ok(&["getvar", "LAYER_CONF_SEEN", "--value"]), "${LAYERSDIR}/meta-itest\n");
    b.append("meta-itest/conf/layer.conf", "require conf/nothing/${EMPTY_NAME}.conf");
    let err = b.fails(&["layers"]);
    assert!(err.contains("could not include required file conf/nothing/.conf: not found"), "{err}");
}
