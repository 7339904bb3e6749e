//! The `populate-lic` built-in checks LIC_FILES_CHKSUM as license.bbclass does and
//! collects the texts, on the real license header of the demo layer's hello.c.

use std::fs;
use std::path::{Path, PathBuf};

use rstore_evaluator::builtin::license::{LicenseFile, LicenseRequest};
use rstore_evaluator::builtin::{self, BuiltinError, BuiltinRequest};

/// `layers/meta-demo/recipes-demo/hello/hello/hello.c` in this repository.
fn hello_c() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../layers/meta-demo/recipes-demo/hello/hello/hello.c")
}

fn entry(path: &str, location: PathBuf, md5: &str, lines: Option<(usize, usize)>) -> LicenseFile {
    LicenseFile {
        path: path.into(),
        location,
        host: None,
        md5: md5.into(),
        begin_line: lines.map(|l| l.0),
        end_line: lines.map(|l| l.1),
    }
}

fn request(dest: &Path, files: Vec<LicenseFile>) -> BuiltinRequest {
    BuiltinRequest::PopulateLic(LicenseRequest {
        recipe: "hello".into(),
        dest: dest.to_path_buf(),
        files,
        license: "MIT".into(),
        pv: "1.0".into(),
        pr: "r0".into(),
    })
}

fn run(req: &BuiltinRequest) -> Result<String, Box<BuiltinError>> {
    let mut log = Vec::new();
    builtin::run(req, &mut log).map(|()| String::from_utf8(log).unwrap()).map_err(Box::new)
}

#[test]
fn the_demo_recipes_checksum_matches_and_the_lines_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("license-destdir/hello");
    // As hello_1.0.bb says: file://hello.c;beginline=4;endline=23;md5=d82c3b07…
    let files = vec![entry("hello.c", hello_c(), "d82c3b077c4ea41f7d3ed3bf6e03052f", Some((4, 23)))];
    run(&request(&dest, files)).unwrap();
    let text = fs::read_to_string(hello_c()).unwrap();
    let want: String = text.split_inclusive('\n').skip(3).take(20).collect();
    assert_eq!(fs::read_to_string(dest.join("hello.c.lines-4-23")).unwrap(), want);
    assert_eq!(fs::read_to_string(dest.join("recipeinfo")).unwrap(), "LICENSE: MIT\nPV: 1.0\nPR: r0\n");
}

#[test]
fn whole_files_keep_their_place_in_the_sources() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("src");
    fs::create_dir_all(s.join("archival/bz")).unwrap();
    fs::write(s.join("archival/bz/LICENSE"), "bzip2 license\n").unwrap();
    fs::write(s.join("LICENSE"), "GPL\r\n").unwrap();
    let files = vec![
        entry("LICENSE", s.join("LICENSE"), "a454365df26186b6921aeed1e47095ef", None),
        // Upper-case hex as some recipes write it.
        entry("archival/bz/LICENSE", s.join("archival/bz/LICENSE"), "962763257B42B65C16D650357170683C", None),
    ];
    let dest = t.path().join("dest");
    run(&request(&dest, files)).unwrap();
    assert_eq!(fs::read_to_string(dest.join("LICENSE")).unwrap(), "GPL\r\n");
    assert_eq!(fs::read_to_string(dest.join("archival/bz/LICENSE")).unwrap(), "bzip2 license\n");
}

#[test]
fn every_mismatch_is_reported_with_both_checksums() {
    let t = tempfile::tempdir().unwrap();
    let files = vec![
        entry("hello.c", hello_c(), "00000000000000000000000000000000", Some((4, 23))),
        entry("hello.c", hello_c(), "d82c3b077c4ea41f7d3ed3bf6e03052f", Some((5, 23))),
        entry("COPYING", t.path().join("COPYING"), "d82c3b077c4ea41f7d3ed3bf6e03052f", None),
    ];
    let err = run(&request(&t.path().join("dest"), files)).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("hello: the license files do not match LIC_FILES_CHKSUM:\n"), "{text}");
    assert!(
        text.contains("hello.c (lines 4-23): md5 is d82c3b077c4ea41f7d3ed3bf6e03052f, LIC_FILES_CHKSUM says 00000000000000000000000000000000"),
        "{text}"
    );
    assert!(text.contains("hello.c (lines 5-23): md5 is "), "{text}");
    assert!(text.contains("COPYING: no such file"), "{text}");
    assert!(!t.path().join("dest/recipeinfo").exists());
}
