//! verify and verify --repair find exactly the damage that was done.

mod common;

use std::fs;

use common::{Fixture, Spec, make_tree};
use rstore_store::{
    Access, BlobDigest, DanglingRecord, Digest, Entry, NoReporter, Node, ObjectKind, Outhash, Problem, Table, Taskhash,
    TreeDigest, Unihash, VerifyOptions,
};

fn th(s: &str) -> Taskhash {
    Taskhash::from_digest(Digest::of_bytes(s.as_bytes()))
}

struct Built {
    root: TreeDigest,
    blob: BlobDigest,
    unihash: Unihash,
}

/// Five task outputs with distinct contents, each with an entry.
fn build(f: &Fixture) -> Vec<Built> {
    (0..5)
        .map(|i| {
            let dir = f.path(&format!("out{i}"));
            let content = format!("output number {i}\n").repeat(100);
            make_tree(
                &dir,
                &[("usr/share/doc", Spec::File(content.as_bytes())), ("usr/common", Spec::File(b"shared"))],
            );
            let root = f.ingest(&dir).root;
            let unihash = Unihash::from_digest(Digest::of_bytes(format!("u{i}").as_bytes()));
            f.store
                .put_entry(
                    &unihash,
                    Entry { root, log: None, duration_ms: i, host_fingerprint: None, signatures: vec![] },
                )
                .unwrap();
            f.store.report("r:do_install", &th(&format!("t{i}")), &Outhash::of_tree(root)).unwrap();
            let Node::File { digest, .. } = f.store.resolve(&root, "usr/share/doc").unwrap().0 else { unreachable!() };
            Built { root, blob: digest, unihash }
        })
        .collect()
}

#[test]
fn verify_finds_exactly_the_damage_and_repair_removes_exactly_its_dependents() {
    let f = Fixture::new();
    let b = build(&f);
    let clean = f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert!(clean.objects >= 5 * 4);

    // 0: flipped bytes in the middle of a blob.
    let p0 = f.store.debug_object_path(ObjectKind::Blob, b[0].blob.digest());
    let mut bytes = fs::read(&p0).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&p0, &bytes).unwrap();
    // 1: a truncated blob.
    let p1 = f.store.debug_object_path(ObjectKind::Blob, b[1].blob.digest());
    let len = fs::metadata(&p1).unwrap().len();
    fs::File::options().write(true).open(&p1).unwrap().set_len(len - 3).unwrap();
    // 2: a deleted blob.
    fs::remove_file(f.store.debug_object_path(ObjectKind::Blob, b[2].blob.digest())).unwrap();
    // 3: a corrupt index value.
    f.store.debug_put_index_value(Table::Entries, b[3].unihash.as_bytes(), b"RSENTRY\x01garbage").unwrap();

    let report = f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap();
    let kinds: Vec<(String, Digest)> = report
        .problems
        .iter()
        .map(|p| match p {
            Problem::CorruptObject { kind, digest, .. } => (format!("corrupt {kind}"), *digest),
            Problem::MissingObject { kind, digest } => (format!("missing {kind}"), *digest),
            Problem::CorruptIndexValue { table, key, .. } => {
                (format!("corrupt {}", table.name()), key.parse().unwrap())
            }
            other => panic!("unexpected problem {other:?}"),
        })
        .collect();
    let mut expected = vec![
        ("corrupt blob".to_owned(), *b[0].blob.digest()),
        ("corrupt blob".to_owned(), *b[1].blob.digest()),
        ("missing blob".to_owned(), *b[2].blob.digest()),
        ("corrupt entries".to_owned(), *b[3].unihash.digest()),
    ];
    let mut got = kinds.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{report:#?}");
    let mut dangling_expected = Vec::new();
    for damaged in &b[..3] {
        dangling_expected.push(DanglingRecord {
            table: Table::Entries,
            key: *damaged.unihash.digest(),
            broken: *damaged.blob.digest(),
        });
        dangling_expected.push(DanglingRecord {
            table: Table::Trees,
            key: *damaged.root.digest(),
            broken: *damaged.blob.digest(),
        });
    }
    dangling_expected.sort();
    assert_eq!(report.dangling, dangling_expected);
    assert!(!report.repaired);

    let repaired = f.store.verify(&VerifyOptions { repair: true, ..Default::default() }, &NoReporter).unwrap();
    assert!(repaired.repaired);
    assert_eq!(repaired.removed_records, 7, "six dependents and the corrupt record");
    assert_eq!(repaired.removed_files, 2, "the two corrupt blobs");
    let after = f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap();
    assert!(after.is_clean(), "{after:#?}");

    for (i, built) in b.iter().enumerate() {
        let entry = f.store.entry(&built.unihash).unwrap();
        assert_eq!(entry.is_some(), i == 4, "only the untouched entry is left");
        // Hash equivalence records are not damaged and stay.
        assert_eq!(f.store.lookup(&th(&format!("t{i}"))).unwrap(), Some(Unihash::from_taskhash(th(&format!("t{i}")))));
    }
    // Rebuilding puts everything back.
    for (i, built) in b.iter().enumerate().take(4) {
        let root = f.ingest(&f.path(&format!("out{i}"))).root;
        assert_eq!(root, built.root);
    }
    assert!(f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap().is_clean());
}

#[test]
fn corrupt_trees_and_stray_files_are_reported() {
    let f = Fixture::new();
    let b = build(&f);
    let Node::Directory { digest: usr, .. } = f.store.resolve(&b[0].root, "usr").unwrap().0 else { unreachable!() };
    let tree_path = f.store.debug_object_path(ObjectKind::Tree, usr.digest());
    let mut bytes = fs::read(&tree_path).unwrap();
    bytes.push(0);
    fs::write(&tree_path, &bytes).unwrap();
    let stray = tree_path.parent().unwrap().join("not-a-digest");
    fs::write(&stray, b"?").unwrap();
    let report = f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap();
    assert_eq!(report.problems.len(), 2, "{report:#?}");
    assert!(
        report.problems.iter().any(
            |p| matches!(p, Problem::CorruptObject { kind: ObjectKind::Tree, digest, .. } if digest == usr.digest())
        )
    );
    assert!(report.problems.iter().any(|p| matches!(p, Problem::StrayFile { path } if *path == stray)));
    assert_eq!(report.dangling.len(), 2);
    f.store.verify(&VerifyOptions { repair: true, ..Default::default() }, &NoReporter).unwrap();
    assert!(f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap().is_clean());
    assert!(f.store.entry(&b[1].unihash).unwrap().is_some());
}

#[test]
fn damaged_checkout_copies_are_found_and_rebuilt() {
    if !rustix::process::geteuid().is_root() {
        // Only root can write through the read-only copies (which is the hazard).
        return;
    }
    let f = Fixture::new();
    let b = build(&f);
    let dest = f.path("m");
    f.store.materialise(&b[0].root, &dest, Access::ReadOnly, &NoReporter).unwrap();
    let checkout = f.store.checkout(&b[0].root, &NoReporter).unwrap();
    // Writing through a hardlink damages the shared copy.
    fs::write(dest.join("usr/share/doc"), b"scribbled").unwrap();
    let report = f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap();
    let paths: Vec<_> = report
        .problems
        .iter()
        .map(|p| match p {
            Problem::CorruptCheckout { path, .. } => path.clone(),
            other => panic!("unexpected problem {other:?}"),
        })
        .collect();
    assert_eq!(paths.len(), 2, "the blob copy and the tree checkout: {paths:?}");
    assert!(paths.contains(&checkout));
    assert!(report.dangling.is_empty(), "objects themselves are intact");
    f.store.verify(&VerifyOptions { repair: true, ..Default::default() }, &NoReporter).unwrap();
    assert!(f.store.verify(&VerifyOptions::default(), &NoReporter).unwrap().is_clean());
    let again = f.path("again");
    f.store.materialise(&b[0].root, &again, Access::ReadOnly, &NoReporter).unwrap();
    assert_eq!(fs::read(again.join("usr/share/doc")).unwrap(), "output number 0\n".repeat(100).as_bytes());
}
