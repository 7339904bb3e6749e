//! The unpack and patch built-ins run for real on temporary directories, with archives
//! generated here (every format, hostile members) and the host's `patch`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rstore_evaluator::builtin::patch::{PatchEntry, PatchRequest};
use rstore_evaluator::builtin::unpack::archive::{Compression, Format};
use rstore_evaluator::builtin::unpack::{UnpackAction, UnpackEntry, UnpackRequest};

/// A tar member to write.
enum Member<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A tar archive with members written byte for byte as given (hostile names too).
fn tar_bytes(members: &[Member<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        let (name, link, data): (&str, Option<&str>, &[u8]) = match m {
            Member::Dir(n, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                (n, None, b"")
            }
            Member::File(n, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                (n, None, data)
            }
            Member::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, Some(t), b"")
            }
            Member::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, Some(t), b"")
            }
        };
        h.set_size(data.len() as u64);
        if name.len() < 100 {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else {
            b.append_data(&mut h, name, data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn unpack(root: &Path, entries: Vec<UnpackEntry>) -> Result<String, String> {
    let req = UnpackRequest { recipe: "demo".into(), unpackdir: root.join("sources"), entries };
    let mut log = Vec::new();
    rstore_evaluator::builtin::unpack::run(&req, &mut log).map_err(|e| {
        let mut s = e.to_string();
        let mut c = std::error::Error::source(&e);
        while let Some(cause) = c {
            s.push_str(&format!(": {cause}"));
            c = cause.source();
        }
        s
    })?;
    Ok(String::from_utf8(log).unwrap())
}

fn extract(source: PathBuf, format: Format, into: &str, strip: usize) -> UnpackEntry {
    UnpackEntry {
        url: format!("file://{}", source.display()),
        source,
        action: UnpackAction::Extract { format, into: into.into(), strip },
    }
}

/// "path kind mode [target|contents]" for every entry below `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for n in names {
            let p = dir.join(&n);
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.push(format!("{rel} link -> {}", fs::read_link(&p).unwrap().display()));
            } else if m.is_dir() {
                out.push(format!("{rel} dir {:o}", m.mode() & 0o7777));
                walk(base, &p, out);
            } else {
                out.push(format!(
                    "{rel} file {:o} {}",
                    m.mode() & 0o7777,
                    String::from_utf8_lossy(&fs::read(&p).unwrap())
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

const LONG: &str =
    "a-directory-name-that-is-long/and-a-file-name-that-makes-the-whole-path-longer-than-one-hundred-bytes.txt";

fn sample() -> Vec<u8> {
    tar_bytes(&[
        Member::Dir("pkg-1.0/", 0o755),
        Member::Dir("pkg-1.0/ro/", 0o555),
        Member::File("pkg-1.0/ro/inside.txt", 0o644, b"in a read-only dir"),
        Member::File("pkg-1.0/setuid-tool", 0o4775, b"#!/bin/sh\n"),
        Member::File("pkg-1.0/group-writable", 0o664, b"g"),
        Member::Symlink("pkg-1.0/COPYING", "/usr/share/common-licenses/GPL-2"),
        Member::Symlink("pkg-1.0/tool-link", "setuid-tool"),
        Member::Hardlink("pkg-1.0/hard", "pkg-1.0/group-writable"),
        Member::File(&format!("pkg-1.0/{LONG}"), 0o644, b"long"),
    ])
}

#[test]
fn every_tar_compression_extracts_to_the_same_tree() {
    let expected = vec![
        "pkg-1.0 dir 755".to_owned(),
        "pkg-1.0/COPYING link -> /usr/share/common-licenses/GPL-2".to_owned(),
        "pkg-1.0/a-directory-name-that-is-long dir 755".to_owned(),
        format!("pkg-1.0/{LONG} file 644 long"),
        "pkg-1.0/group-writable file 644 g".to_owned(),
        "pkg-1.0/hard file 644 g".to_owned(),
        "pkg-1.0/ro dir 555".to_owned(),
        "pkg-1.0/ro/inside.txt file 644 in a read-only dir".to_owned(),
        "pkg-1.0/setuid-tool file 755 #!/bin/sh\n".to_owned(),
        "pkg-1.0/tool-link link -> setuid-tool".to_owned(),
    ];
    for (c, ext) in [
        (Compression::None, "tar"),
        (Compression::Gzip, "tar.gz"),
        (Compression::Bzip2, "tar.bz2"),
        (Compression::Xz, "tar.xz"),
        (Compression::Zstd, "tar.zst"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join(format!("pkg-1.0.{ext}"));
        fs::write(&archive, compress(&sample(), c)).unwrap();
        assert_eq!(Format::from_name(archive.to_str().unwrap()), Some(Format::Tar(c)));
        let log = unpack(tmp.path(), vec![extract(archive, Format::Tar(c), "", 0)]).unwrap();
        assert!(log.contains("Unpacking"), "{log}");
        assert_eq!(listing(&tmp.path().join("sources")), expected, "{ext}");
        let hard = tmp.path().join("sources/pkg-1.0/hard");
        assert_eq!(
            fs::metadata(&hard).unwrap().ino(),
            fs::metadata(hard.with_file_name("group-writable")).unwrap().ino()
        );
        assert_eq!(fs::metadata(tmp.path().join("sources/pkg-1.0/setuid-tool")).unwrap().mtime(), 1_600_000_000);
    }
}

#[test]
fn striplevel_and_subdir() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("pkg.tar.gz");
    fs::write(&archive, compress(&sample(), Compression::Gzip)).unwrap();
    unpack(tmp.path(), vec![extract(archive, Format::Tar(Compression::Gzip), "deps/pkg", 1)]).unwrap();
    let base = tmp.path().join("sources/deps/pkg");
    assert_eq!(fs::read(base.join("ro/inside.txt")).unwrap(), b"in a read-only dir");
    assert_eq!(fs::read(base.join("hard")).unwrap(), b"g", "hard link targets are stripped too");
}

fn assert_refused(members: &[Member<'_>], what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("evil.tar");
    fs::write(&archive, tar_bytes(members)).unwrap();
    let err = unpack(tmp.path(), vec![extract(archive, Format::Tar(Compression::None), "", 0)]).unwrap_err();
    assert!(err.contains("refusing to extract"), "{err}");
    assert!(err.contains(what), "{what} not in: {err}");
    assert!(!tmp.path().join("outside").exists(), "nothing was written outside UNPACKDIR");
    assert!(!tmp.path().join("evil").exists(), "nothing was written outside UNPACKDIR");
}

#[test]
fn members_escaping_unpackdir_are_refused() {
    assert_refused(&[Member::File("../evil", 0o644, b"x")], "'..'");
    assert_refused(&[Member::File("a/../../evil", 0o644, b"x")], "'..'");
    assert_refused(&[Member::File("/tmp/evil-absolute", 0o644, b"x")], "absolute");
    let outside = "../outside";
    assert_refused(
        &[Member::Symlink("escape", outside), Member::File("escape/evil", 0o644, b"x")],
        "written through the symbolic link escape",
    );
    assert_refused(&[Member::Symlink("up", ".."), Member::Dir("up/outside", 0o755)], "symbolic link up");
    assert_refused(&[Member::Hardlink("h", "../../etc/passwd")], "'..'");
    assert_refused(&[Member::Symlink("l", "/etc"), Member::Hardlink("h", "l/passwd")], "links through l");
}

#[test]
fn zip_and_deb_archives() {
    let tmp = tempfile::tempdir().unwrap();
    // A zip with a directory, an executable, a plain file and a symbolic link.
    let zip_path = tmp.path().join("tool.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        z.add_directory("tool/", opts.unix_permissions(0o755)).unwrap();
        z.start_file("tool/run", opts.unix_permissions(0o4755)).unwrap();
        z.write_all(b"#!/bin/sh\n").unwrap();
        z.start_file("tool/data.txt", opts.unix_permissions(0o644)).unwrap();
        z.write_all(b"data").unwrap();
        z.add_symlink("tool/link", "data.txt", opts).unwrap();
        z.finish().unwrap();
    }
    // A .deb: ar with debian-binary, control.tar.gz, data.tar.xz.
    let deb_path = tmp.path().join("pkg_1.0_amd64.deb");
    {
        let data = compress(
            &tar_bytes(&[Member::Dir("./usr/", 0o755), Member::File("./usr/hello", 0o755, b"hi")]),
            Compression::Xz,
        );
        let control = compress(&tar_bytes(&[Member::File("./control", 0o644, b"Package: pkg\n")]), Compression::Gzip);
        let mut ar = b"!<arch>\n".to_vec();
        for (name, body) in [("debian-binary", b"2.0\n".to_vec()), ("control.tar.gz", control), ("data.tar.xz", data)] {
            ar.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, body.len()).as_bytes());
            ar.extend(&body);
            if body.len() % 2 == 1 {
                ar.push(b'\n');
            }
        }
        fs::write(&deb_path, ar).unwrap();
    }
    unpack(tmp.path(), vec![extract(zip_path, Format::Zip, "", 0), extract(deb_path, Format::Deb, "deb", 0)]).unwrap();
    assert_eq!(
        listing(&tmp.path().join("sources")),
        vec![
            "deb dir 755",
            "deb/usr dir 755",
            "deb/usr/hello file 755 hi",
            "tool dir 755",
            "tool/data.txt file 644 data",
            "tool/link link -> data.txt",
            "tool/run file 755 #!/bin/sh\n",
        ]
    );
}

#[test]
fn single_files_copies_and_missing_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("notes.txt.gz");
    fs::write(&gz, compress(b"notes", Compression::Gzip)).unwrap();
    let plain = tmp.path().join("defconfig");
    fs::write(&plain, "CONFIG=y").unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join("a")).unwrap();
    fs::write(tree.join("a/b"), "b").unwrap();
    let tarball = tmp.path().join("kept.tar.gz");
    fs::write(&tarball, compress(&sample(), Compression::Gzip)).unwrap();
    let copy = |source: &Path, to: &str| UnpackEntry {
        url: format!("file://{}", source.display()),
        source: source.to_path_buf(),
        action: UnpackAction::Copy { to: to.into() },
    };
    unpack(
        tmp.path(),
        vec![
            UnpackEntry {
                url: "file://notes.txt.gz".into(),
                source: gz,
                action: UnpackAction::Decompress { compression: Compression::Gzip, to: "notes.txt".into() },
            },
            copy(&plain, "configs/defconfig"),
            copy(&tree, "tree"),
            copy(&tarball, "kept.tar.gz"),
        ],
    )
    .unwrap();
    let src = tmp.path().join("sources");
    assert_eq!(fs::read_to_string(src.join("notes.txt")).unwrap(), "notes");
    assert_eq!(fs::read_to_string(src.join("configs/defconfig")).unwrap(), "CONFIG=y");
    assert_eq!(fs::read_to_string(src.join("tree/a/b")).unwrap(), "b");
    assert!(src.join("kept.tar.gz").is_file(), "unpack=0 keeps the archive whole");

    let err = unpack(tmp.path(), vec![copy(&tmp.path().join("never-fetched"), "x")]).unwrap_err();
    assert!(err.contains("never-fetched") && err.contains("missing"), "{err}");
    let err = unpack(tmp.path(), vec![copy(&plain, "../escape")]).unwrap_err();
    assert!(err.contains("not a relative path inside UNPACKDIR"), "{err}");

    let corrupt = tmp.path().join("corrupt.tar.xz");
    fs::write(&corrupt, b"this is not xz data at all").unwrap();
    let err = unpack(tmp.path(), vec![extract(corrupt, Format::Tar(Compression::Xz), "", 0)]).unwrap_err();
    assert!(err.contains("corrupt.tar.xz"), "{err}");
}

fn patch_request(file: &Path, dir: &Path, striplevel: u32) -> PatchRequest {
    PatchRequest {
        recipe: "demo".into(),
        patches: vec![PatchEntry {
            url: format!("file://{}", file.file_name().unwrap().to_string_lossy()),
            file: file.to_path_buf(),
            dir: dir.to_path_buf(),
            striplevel,
        }],
    }
}

#[test]
fn patches_apply_with_striplevel_and_failures_show_patch_output() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("pkg-1.0");
    fs::create_dir_all(s.join("src")).unwrap();
    fs::write(s.join("src/main.c"), "int main(void)\n{\n\treturn 1;\n}\n").unwrap();
    let good = tmp.path().join("0001-return-0.patch");
    fs::write(
        &good,
        "From: t\nSubject: return 0\n\n--- a/src/main.c\n+++ b/src/main.c\n@@ -1,4 +1,4 @@\n int main(void)\n {\n-\treturn 1;\n+\treturn 0;\n }\n",
    )
    .unwrap();
    let mut log = Vec::new();
    rstore_evaluator::builtin::patch::run(&patch_request(&good, &s, 1), &mut log).unwrap();
    assert_eq!(fs::read_to_string(s.join("src/main.c")).unwrap(), "int main(void)\n{\n\treturn 0;\n}\n");
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("Applying 0001-return-0.patch"), "{log}");
    assert!(!s.join("src/main.c.orig").exists());

    // patchdir=src with striplevel=0.
    let p0 = tmp.path().join("p0.diff");
    fs::write(&p0, "--- main.c\n+++ main.c\n@@ -3 +3 @@\n-\treturn 0;\n+\treturn 2;\n").unwrap();
    rstore_evaluator::builtin::patch::run(&patch_request(&p0, &s.join("src"), 0), &mut Vec::new()).unwrap();
    assert!(fs::read_to_string(s.join("src/main.c")).unwrap().contains("return 2;"));

    // A patch that does not apply fails the task with patch's own words.
    let bad = tmp.path().join("0002-bad.patch");
    fs::write(&bad, "--- a/src/main.c\n+++ b/src/main.c\n@@ -1,3 +1,3 @@\n-no such line\n+other\n context\n").unwrap();
    let err =
        rstore_evaluator::builtin::patch::run(&patch_request(&bad, &s, 1), &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("applying 0002-bad.patch"), "{err}");
    assert!(err.contains("FAILED"), "patch's output is in the error: {err}");

    let err =
        rstore_evaluator::builtin::patch::run(&patch_request(&good, &tmp.path().join("no-such-S"), 1), &mut Vec::new())
            .unwrap_err()
            .to_string();
    assert!(err.contains("no-such-S"), "{err}");
    let mode = fs::metadata(s.join("src/main.c")).unwrap().permissions().mode();
    assert_eq!(mode & 0o7000, 0);
}
