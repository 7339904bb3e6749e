//! Bad input through the binary: every `fail-*.bb` fixture of meta-itest-fail fails
//! with exactly the error in its `.expected` file (file:line:col, or file:line for
//! Python, what was expected, and the offending text), the other recipes still parse,
//! broken configuration files are reported with their location, and nothing makes
//! rstore panic.

mod common;

use std::path::Path;

use common::{Build, FAIL_LAYERS, OKAY_LAYERS, expected_error, fail_fixtures};
use serde_json::Value;

#[test]
fn failing_recipes_are_reported_and_the_rest_still_parse() {
    let b = Build::new(&FAIL_LAYERS);
    let fixtures = fail_fixtures(&b.layers);
    assert!(fixtures.len() >= 20, "{fixtures:?}");

    let out = b.run(&["parse", "--json"]);
    assert_eq!(out.status.code(), Some(1), "parse fails when a recipe fails");
    let report: Value = serde_json::from_str(&b.filter(&String::from_utf8_lossy(&out.stdout))).unwrap();
    assert_eq!(report["errors"].as_u64(), Some(fixtures.len() as u64));
    // Every recipe of the okay layers still parses: the same targets as without
    // meta-itest-fail.
    assert_eq!(report["targets"], 22);
    assert_eq!(report["skipped"], 2);
    assert_eq!(report["files"].as_u64(), Some(18 + fixtures.len() as u64));

    let failures = report["failures"].as_array().unwrap();
    for fixture in &fixtures {
        let file = b.filter(&fixture.display().to_string());
        let failure = failures.iter().find(|f| f["file"] == file.as_str());
        let failure = failure.unwrap_or_else(|| panic!("{file} is not among the failures"));
        assert_eq!(failure["error"].as_str().unwrap(), expected_error(&fixture.with_extension("expected")), "{file}");
    }

    // In text, each error is one `error:` entry on stderr; stdout still lists every
    // recipe that parsed.
    let out = b.run(&["recipes"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 22, "{stdout}");
    let stderr = b.filter(&String::from_utf8_lossy(&out.stderr));
    for fixture in &fixtures {
        let expected = format!("error: {}\n", expected_error(&fixture.with_extension("expected")));
        assert!(stderr.contains(&expected), "{expected}\nnot in\n{stderr}");
    }
    assert!(stderr.ends_with(&format!("{} of {} recipe files failed to parse\n", fixtures.len(), 18 + fixtures.len())));
}

#[test]
fn each_failing_recipe_fails_alone() {
    let b = Build::new(&FAIL_LAYERS);
    for fixture in fail_fixtures(&b.layers) {
        let path = fixture.display().to_string();
        let err = b.fails(&["getvar", &path, "PN"]);
        assert_eq!(err, format!("error: {}\n", expected_error(&fixture.with_extension("expected"))), "{path}");
    }
    // A recipe of the same layers that parses.
    assert_eq!(b.ok(&["getvar", "okay-operators", "SET", "--value"]), "value\n");
}

/// Run `rstore getvar MACHINE` in a build directory whose configuration was broken by
/// `edit`; return its filtered stderr (it must fail).
fn broken_config(edit: impl FnOnce(&Build)) -> String {
    let b = Build::new(&OKAY_LAYERS);
    edit(&b);
    b.fails(&["getvar", "MACHINE"])
}

fn set(b: &Build, rel: &str, text: &str) {
    std::fs::write(Path::new(&b.dir).join(rel), text).unwrap();
}

#[test]
fn broken_configuration_files_are_located() {
    let prefix = "error: reading the configuration of ${TOPDIR}: ";
    let err = broken_config(|b| set(b, "conf/local.conf", "MACHINE = \"x\"\nDISTRO = \"unterminated\n"));
    assert_eq!(
        err,
        format!(
            "{prefix}${{TOPDIR}}/conf/local.conf:2:10: unterminated quote: expected a closing \" at the end of the line\n    DISTRO = \"unterminated\n"
        )
    );

    let err = broken_config(|b| set(b, "conf/local.conf", "MACHINE_append = \"x\"\n"));
    assert!(err.starts_with(prefix), "{err}");
    assert!(err.contains("${TOPDIR}/conf/local.conf:1"), "{err}");
    assert!(err.contains("old override syntax"), "{err}");

    let err = broken_config(|b| set(b, "conf/local.conf", "require conf/missing.conf\n"));
    assert_eq!(
        err,
        format!(
            "{prefix}${{TOPDIR}}/conf/local.conf:1:1: could not include required file conf/missing.conf: not found next to the including file or in BBPATH\n"
        )
    );

    let err = broken_config(|b| set(b, "conf/local.conf", "MACHINE = \"no-such-machine\"\n"));
    assert!(err.starts_with(&format!("{prefix}${{LAYERSDIR}}/meta-itest/conf/bitbake.conf:")), "{err}");
    assert!(err.contains("could not include required file conf/machine/no-such-machine.conf"), "{err}");

    let err = broken_config(|b| set(b, "conf/local.conf", "INHERIT += \"no_such_class\"\n"));
    assert!(err.contains("could not inherit") && err.contains("no_such_class"), "{err}");

    let err = broken_config(|b| set(b, "conf/local.conf", "A = \"${@1/0}\"\nB := \"${A}\"\n"));
    assert!(err.contains("${TOPDIR}/conf/local.conf:2:1"), "{err}");
    assert!(err.contains("ZeroDivisionError"), "{err}");

    let err = broken_config(|b| set(b, "conf/bblayers.conf", "BBLAYERS = \"/nonexistent/layer\"\n"));
    assert_eq!(err, format!("{prefix}layer directories in BBLAYERS do not exist: /nonexistent/layer\n"));

    let err = broken_config(|b| set(b, "conf/bblayers.conf", "BBPATH = \"${TOPDIR}\"\n"));
    assert_eq!(err, format!("{prefix}conf/bblayers.conf sets no BBLAYERS\n"));

    let err = broken_config(|b| std::fs::remove_file(b.layer_file("meta-itest/conf/layer.conf")).unwrap());
    assert_eq!(err, format!("{prefix}layer ${{LAYERSDIR}}/meta-itest has no conf/layer.conf\n"));

    let err = broken_config(|b| std::fs::remove_file(b.layer_file("meta-itest/conf/bitbake.conf")).unwrap());
    assert!(err.starts_with(&format!("{prefix}conf/bitbake.conf not found in BBPATH")), "{err}");

    let err = broken_config(|b| b.append("meta-itest-extra/conf/layer.conf", "BBFILE_PRIORITY_itestextra = \"high\""));
    assert_eq!(err, format!("{prefix}invalid BBFILE_PRIORITY_itestextra: \"high\" is not an integer\n"));

    let err = broken_config(|b| b.append("meta-itest-extra/conf/layer.conf", "LAYERDEPENDS_itestextra += \"absent\""));
    assert!(err.contains("layer itestextra depends on layer absent, which is not enabled in bblayers.conf"), "{err}");

    let err = broken_config(|b| b.append("meta-itest/conf/layer.conf", "LAYERSERIES_COMPAT_itest = \"itest-0\""));
    assert!(err.contains("layer itest is not compatible with the core layer's series itest-1"), "{err}");

    let err = broken_config(|b| {
        let text = std::fs::read_to_string(b.layer_file("meta-itest/conf/bitbake.conf")).unwrap();
        std::fs::write(
            b.layer_file("meta-itest/conf/bitbake.conf"),
            text.replace("include conf/site.conf", "include conf/site.conf \\"),
        )
        .unwrap();
    });
    assert!(err.contains("${LAYERSDIR}/meta-itest/conf/bitbake.conf:"), "{err}");
}

#[test]
fn files_that_are_not_metadata_text() {
    let b = Build::new(&OKAY_LAYERS);
    // Not UTF-8.
    std::fs::write(b.layer_file("meta-itest/recipes-okay/okay-binary.bb"), b"LICENSE = \"\xff\xfe\"\n\x00\x01")
        .unwrap();
    // Empty, and only a comment: both parse.
    std::fs::write(b.layer_file("meta-itest/recipes-okay/okay-empty.bb"), b"").unwrap();
    std::fs::write(b.layer_file("meta-itest/recipes-okay/okay-comment.bb"), b"# nothing else\n").unwrap();
    // Windows line ends parse as BitBake reads them.
    std::fs::write(
        b.layer_file("meta-itest/recipes-okay/okay-crlf.bb"),
        b"LICENSE = \"MIT\"\r\nCRLF = \"a \\\r\n b\"\r\n",
    )
    .unwrap();
    let out = b.run(&["parse", "--json"]);
    let report: Value = serde_json::from_str(&b.filter(&String::from_utf8_lossy(&out.stdout))).unwrap();
    assert_eq!(report["errors"], 1, "{report}");
    assert_eq!(
        report["failures"][0]["error"],
        "${LAYERSDIR}/meta-itest/recipes-okay/okay-binary.bb: not valid UTF-8 (byte 11)"
    );
    assert_eq!(b.ok(&["getvar", "okay-crlf", "CRLF", "--value"]), "a  b\n");
    assert_eq!(b.ok(&["getvar", "okay-empty", "PN", "--value"]), "okay-empty\n");
}

#[test]
fn a_bbappend_without_its_recipe_is_an_error() {
    let b = Build::new(&OKAY_LAYERS);
    b.write("meta-itest-extra/recipes-extra/okay-missing_%.bbappend", "X = \"1\"\n");
    let expected = "error: ${LAYERSDIR}/meta-itest-extra/recipes-extra/okay-missing_%.bbappend: no recipe for this \
                    .bbappend: expected a recipe file named okay-missing_%.bb (`%` stands for any version)\n";
    // Like BitBake ("No recipes available for"); every recipe still parses, and the
    // run served from the parse cache says it again.
    for _ in 0..2 {
        let out = b.run(&["parse", "--json"]);
        assert_eq!(out.status.code(), Some(1));
        let report: Value = serde_json::from_str(&b.filter(&String::from_utf8_lossy(&out.stdout))).unwrap();
        assert_eq!((report["errors"].as_u64(), report["targets"].as_u64()), (Some(1), Some(22)), "{report}");
        assert!(b.fails(&["parse"]).contains(expected));
    }
    std::fs::remove_file(b.layer_file("meta-itest-extra/recipes-extra/okay-missing_%.bbappend")).unwrap();
    b.ok(&["parse"]);
}

/// xorshift64: a fixed sequence of numbers, so the mutated files are the same every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_recipes_never_crash_the_binary() {
    // The importer's property test covers the parser and the datastore; this runs
    // damaged recipes through everything else too (Python, inherits, finalisation,
    // parallel workers, the cache).
    let b = Build::new(&OKAY_LAYERS);
    let dir = b.layer_file("meta-itest/recipes-okay");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bb"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    seeds.sort();
    const SNIPPETS: [&str; 12] = ["\"", "'", "{", "}", "\\", "${", "${@", "\n", ":append", "(", ")", "python () {\n"];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let count = 120;
    for i in 0..count {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 => bytes.truncate(at),
                1 => bytes.splice(at..at, SNIPPETS[rng.below(SNIPPETS.len())].bytes()).for_each(drop),
                _ => {
                    if at < bytes.len() {
                        bytes[at] ^= 1 << rng.below(8);
                    }
                }
            }
        }
        std::fs::write(dir.join(format!("okay-mutated-{i}.bb")), bytes).unwrap();
    }
    for _ in 0..2 {
        let out = b.run(&["parse", "--json"]);
        let report: Value = serde_json::from_str(&b.filter(&String::from_utf8_lossy(&out.stdout))).unwrap();
        assert_eq!(report["files"].as_u64(), Some(18 + count), "{report}");
        for failure in report["failures"].as_array().unwrap() {
            let error = failure["error"].as_str().unwrap();
            assert!(error.starts_with("${LAYERSDIR}/meta-itest/"), "an error that names no file: {error}");
        }
    }
}
