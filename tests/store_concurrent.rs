//! Two `rstore` processes ingesting overlapping trees into one store at once.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

fn rstore(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rstore"));
    cmd.env_remove("RSTORE_STORE").arg("--store").arg(store).arg("-q").arg("store");
    cmd
}

/// 1000 files; the even-numbered ones have the same contents in both trees.
fn write_tree(dir: &Path, tag: &str) {
    for i in 0..1000u32 {
        let sub = dir.join(format!("d{}", i % 16));
        fs::create_dir_all(&sub).unwrap();
        let body =
            if i % 2 == 0 { format!("shared file {i}\n").repeat(200) } else { format!("{tag} file {i}\n").repeat(200) };
        fs::write(sub.join(format!("f{i}")), body).unwrap();
    }
}

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn two_processes_ingest_overlapping_trees_at_once() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    write_tree(&a, "alpha");
    write_tree(&b, "beta");
    // Create the store first so both processes race on content, not on creation.
    json(rstore(&store).args(["stats", "--json"]).output().unwrap());

    for round in 0..2 {
        let spawn = |src: &Path, pin: &str| {
            rstore(&store).args(["add", "--json", "--pin", pin]).arg(src).stdout(Stdio::piped()).spawn().unwrap()
        };
        let ca = spawn(&a, &format!("a{round}"));
        let cb = spawn(&b, &format!("b{round}"));
        let (ra, rb) = (json(ca.wait_with_output().unwrap()), json(cb.wait_with_output().unwrap()));
        if round == 0 {
            // Between them, each distinct content was written at least once: 500 shared + 2 × 500 own.
            let written = ra["new_blobs"].as_u64().unwrap() + rb["new_blobs"].as_u64().unwrap();
            assert!(written >= 1500, "{written}");
        }
        let stats = json(rstore(&store).args(["stats", "--json"]).output().unwrap());
        assert_eq!(stats["blobs"], 1500, "shared content is stored once");
        assert_eq!(stats["complete_trees"], 2);
        assert_eq!(stats["roots"], 2 * (round + 1));

        // Same roots as ingesting alone into fresh stores.
        let alone = t.path().join(format!("alone{round}"));
        let ra_alone = json(rstore(&alone).args(["add", "--json"]).arg(&a).output().unwrap());
        assert_eq!(ra["root"], ra_alone["root"]);
        let verify = json(rstore(&store).args(["verify", "--json"]).output().unwrap());
        assert!(verify["problems"].as_array().unwrap().is_empty(), "{verify:#}");
        assert!(verify["dangling"].as_array().unwrap().is_empty(), "{verify:#}");
    }
}

#[test]
fn readers_and_writers_share_the_store() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    write_tree(&a, "alpha");
    write_tree(&b, "beta");
    let root_a =
        json(rstore(&store).args(["add", "--json"]).arg(&a).output().unwrap())["root"].as_str().unwrap().to_owned();
    // While one process ingests b, others materialise, export and list a.
    let writer = rstore(&store).args(["add", "--json"]).arg(&b).stdout(Stdio::piped()).spawn().unwrap();
    let dest = t.path().join("m");
    let reader = rstore(&store)
        .arg("materialise")
        .arg(&root_a)
        .arg(&dest)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exporter = rstore(&store).args(["export", &root_a]).stdout(Stdio::piped()).spawn().unwrap();
    let listed = rstore(&store).args(["ls", &root_a, "d3"]).output().unwrap();
    assert!(listed.status.success());
    assert_eq!(String::from_utf8(listed.stdout).unwrap().lines().count(), 63);
    let read = reader.wait_with_output().unwrap();
    assert!(read.status.success(), "materialise: {}: {}", read.status, String::from_utf8_lossy(&read.stderr));
    let tar = exporter.wait_with_output().unwrap();
    assert!(tar.status.success() && tar.stdout.len() > 1000 * 512);
    json(writer.wait_with_output().unwrap());
    assert_eq!(fs::read_to_string(dest.join("d1/f1")).unwrap(), "alpha file 1\n".repeat(200));
    rstore_store::remove_tree_forcibly(&dest).unwrap();
}
