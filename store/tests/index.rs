//! Hash equivalence, entries, GC roots, garbage collection, object import/export.

mod common;

use std::fs;

use common::{Fixture, Spec, h, make_tree};
use rstore_store::{
    Access, Digest, Entry, GcOptions, NoReporter, ObjectKind, Outhash, RootName, RootTarget, Signature, Store,
    StoreError, Table, Taskhash, TreeDigest, Unihash,
};

#[test]
fn hash_equivalence_follows_the_first_taskhash() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store")).unwrap();
    let task = "recipes/zlib/zlib_1.3.bb:do_compile";
    assert_eq!(s.lookup(&h("t1")).unwrap(), None);
    // First taskhash for an outhash owns it.
    assert_eq!(s.report(task, &h("t1"), &h("o1")).unwrap(), h("t1"));
    // A different taskhash with the same output gets the owner's unihash.
    assert_eq!(s.report(task, &h("t2"), &h("o1")).unwrap(), h("t1"));
    assert_eq!(s.lookup(&h("t2")).unwrap(), Some(h("t1")));
    // Other output: its own unihash.
    assert_eq!(s.report(task, &h("t3"), &h("o2")).unwrap(), h("t3"));
    // Once assigned, a unihash never changes, whatever is reported later.
    assert_eq!(s.report(task, &h("t3"), &h("o1")).unwrap(), h("t3"));
    assert_eq!(s.report(task, &h("t2"), &h("o9")).unwrap(), h("t1"));
    assert_eq!(s.lookup(&h("t3")).unwrap(), Some(h("t3")));
    // t2 was first to produce o9, so o9 belongs to t2's unihash from now on.
    assert_eq!(s.report(task, &h("t4"), &h("o9")).unwrap(), h("t1"));
    // The same outhash for another task is not equivalent.
    assert_eq!(s.report("recipes/zlib/zlib_1.3.bb:do_install", &h("t5"), &h("o1")).unwrap(), h("t5"));
    assert!(matches!(s.report("", &h("t6"), &h("o1")), Err(StoreError::InvalidTaskIdentity { .. })));

    // Persistent: a new handle reopens the database.
    drop(s);
    let again = Store::open(dir.path().join("store")).unwrap();
    assert_eq!(again.lookup(&h("t2")).unwrap(), Some(h("t1")));
    assert_eq!(again.report(task, &h("t7"), &h("o2")).unwrap(), h("t3"));
}

#[test]
fn concurrent_reports_agree_on_one_unihash() {
    let f = Fixture::new();
    let results: Vec<Unihash> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = &f.store;
                scope.spawn(move || s.report("r:do_x", &h(&format!("t{i}")), &h("same")).unwrap())
            })
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

fn output(f: &Fixture, name: &str, content: &[u8]) -> TreeDigest {
    let dir = f.path(name);
    make_tree(&dir, &[("out/file", Spec::File(content)), ("out/bin/x", Spec::Exec(name.as_bytes()))]);
    f.ingest(&dir).root
}

#[test]
fn entries_need_durable_objects_and_are_written_once() {
    let f = Fixture::new();
    let s = &f.store;
    let root = output(&f, "a", b"A");
    let log = s.add_blob(b"compiling...\n").unwrap();
    assert_eq!(s.read_blob(&log).unwrap(), b"compiling...\n");
    let entry = Entry {
        root,
        log: Some(log),
        duration_ms: 1500,
        host_fingerprint: Some(h("tools-1")),
        signatures: vec![Signature { key_name: "k".into(), signature: vec![9; 64] }],
    };
    let u = h("unihash-a");
    assert_eq!(s.put_entry(&u, entry.clone()).unwrap(), entry);
    // A second write under the same unihash keeps the first.
    let other = Entry { duration_ms: 1, ..entry.clone() };
    assert_eq!(s.put_entry(&u, other).unwrap(), entry);
    assert_eq!(s.entry(&u).unwrap(), Some(entry.clone()));
    assert_eq!(s.entry(&h("nothing")).unwrap(), None);

    let missing_tree = Entry { root: h("no such tree"), log: None, ..entry.clone() };
    assert!(matches!(s.put_entry(&h("u2"), missing_tree), Err(StoreError::EntryTreeMissing { .. })));
    let missing_log = Entry { log: Some(h("no such log")), ..entry.clone() };
    assert!(matches!(s.put_entry(&h("u3"), missing_log), Err(StoreError::EntryLogMissing { .. })));
    assert_eq!(s.entry(&h("u2")).unwrap(), None);
}

#[test]
fn gc_keeps_what_roots_reach_and_frees_the_rest() {
    let f = Fixture::new();
    let s = &f.store;
    let pinned = output(&f, "pinned", b"P");
    let linked = output(&f, "linked", b"L");
    let loose = output(&f, "loose", &vec![b'x'; 100_000]);
    let log = s.add_blob(b"log of pinned").unwrap();
    s.put_entry(
        &h("u-pinned"),
        Entry { root: pinned, log: Some(log), duration_ms: 1, host_fingerprint: None, signatures: vec![] },
    )
    .unwrap();
    s.put_entry(
        &h("u-loose"),
        Entry { root: loose, log: None, duration_ms: 1, host_fingerprint: None, signatures: vec![] },
    )
    .unwrap();
    s.report("t:do_a", &h("t-loose"), &Outhash::of_tree(loose)).unwrap();
    s.pin("release", RootTarget::Entry(h("u-pinned"))).unwrap();
    let result = f.path("result");
    s.materialise(&linked, &result, Access::ReadOnly, &NoReporter).unwrap();
    s.register_result_link(&result, RootTarget::Tree(linked)).unwrap();
    let loose_checkout = s.checkout(&loose, &NoReporter).unwrap();

    let dry = s.gc(&GcOptions { dry_run: true }, &NoReporter).unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.removed_entries, 1);
    assert!(dry.bytes_freed > 0);
    assert!(s.entry(&h("u-loose")).unwrap().is_some(), "a dry run deletes nothing");

    let report = s.gc(&GcOptions::default(), &NoReporter).unwrap();
    assert_eq!(report.roots, 2);
    assert_eq!(report.live_entries, 1);
    assert_eq!(report.removed_entries, 1);
    assert_eq!(report.bytes_freed, dry.bytes_freed);
    assert!(report.removed_blobs >= 1);
    assert!(report.bytes_freed >= 100_000, "the checkout copy of the loose file is freed: {report:?}");
    assert!(!loose_checkout.exists());
    assert_eq!(s.entry(&h("u-loose")).unwrap(), None);
    assert!(!s.has_object(ObjectKind::Tree, loose.digest()));
    // Hash equivalence is knowledge, not content: it survives.
    assert_eq!(s.lookup(&h("t-loose")).unwrap(), Some(h("t-loose")));
    // What roots reach is intact.
    assert_eq!(s.read_blob(&log).unwrap(), b"log of pinned");
    let check = s.verify(&Default::default(), &NoReporter).unwrap();
    assert!(check.is_clean(), "{check:?}");
    let again = f.path("again");
    s.materialise(&pinned, &again, Access::ReadOnly, &NoReporter).unwrap();
    assert_eq!(fs::read(again.join("out/file")).unwrap(), b"P");

    // Removing the result link makes its tree garbage at the next collection.
    rstore_store::remove_tree_forcibly(&result).unwrap();
    let report = s.gc(&GcOptions::default(), &NoReporter).unwrap();
    assert_eq!(report.stale_roots.len(), 1);
    assert!(!s.has_object(ObjectKind::Tree, linked.digest()));
    assert_eq!(s.roots().unwrap().len(), 1);
    s.unpin("release").unwrap();
    assert!(matches!(s.unpin("release"), Err(StoreError::NoSuchRoot { .. })));
    s.gc(&GcOptions::default(), &NoReporter).unwrap();
    let stats = s.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.trees), (0, 0, 0));
    assert!(matches!(RootName::pin(""), Err(StoreError::InvalidRootName { .. })));
}

#[test]
fn objects_move_between_stores_verified() {
    let f = Fixture::new();
    let root = output(&f, "a", b"contents");
    let other = Store::open(f.path("other")).unwrap();
    // Walk the tree: trees first (top-down) is allowed; commit checks completeness.
    let mut trees = vec![root];
    let mut all = Vec::new();
    while let Some(t) = trees.pop() {
        let raw = f.store.read_raw_object(ObjectKind::Tree, t.digest()).unwrap();
        other.import_raw_object(ObjectKind::Tree, t.digest(), &raw).unwrap();
        for e in f.store.read_tree(&t).unwrap().entries() {
            match &e.node {
                rstore_store::Node::Directory { digest, .. } => trees.push(*digest),
                rstore_store::Node::File { digest, .. } => all.push(*digest),
                rstore_store::Node::Symlink { .. } => {}
            }
        }
    }
    assert!(matches!(other.commit_tree(&root), Err(StoreError::IncompleteTree { kind: ObjectKind::Blob, .. })));
    for b in &all {
        let raw = f.store.read_raw_object(ObjectKind::Blob, b.digest()).unwrap();
        // Tampered or mislabelled objects are refused.
        let mut bad = raw.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(matches!(
            other.import_raw_object(ObjectKind::Blob, b.digest(), &bad),
            Err(StoreError::ImportRejected { .. })
        ));
        assert!(matches!(
            other.import_raw_object(ObjectKind::Blob, &h("wrong"), &raw),
            Err(StoreError::ImportRejected { .. })
        ));
    }
    // The good ones, in one batch with one sync.
    let raws: Vec<(ObjectKind, Digest, Vec<u8>)> = all
        .iter()
        .map(|b| (ObjectKind::Blob, *b.digest(), f.store.read_raw_object(ObjectKind::Blob, b.digest()).unwrap()))
        .collect();
    let batch: Vec<(ObjectKind, Digest, &[u8])> = raws.iter().map(|(k, d, r)| (*k, *d, r.as_slice())).collect();
    other.import_raw_objects(&batch).unwrap();
    let info = other.commit_tree(&root).unwrap();
    assert_eq!(info, f.store.tree_info(&root).unwrap().unwrap());
    other
        .put_entry(&h("u"), Entry { root, log: None, duration_ms: 0, host_fingerprint: None, signatures: vec![] })
        .unwrap();
    assert!(other.verify(&Default::default(), &NoReporter).unwrap().is_clean());
}

#[test]
fn a_schema_1_index_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let s = Store::open(&dir).unwrap();
    let src = tmp.path().join("kept");
    make_tree(&src, &[("out/file", Spec::File(b"kept by a pin"))]);
    let root = s.ingest(&src, &rstore_store::IngestOptions::default(), &NoReporter).unwrap().root;
    let unihash: Unihash = h("unihash of the old encoding");
    // What schema 1 held: an entry of encoding version 1 (magic, version, root, no log,
    // duration, empty host fingerprint, no signatures), its taskhash and a pin on it.
    let mut v1 = b"RSENTRY\x01".to_vec();
    v1.extend_from_slice(root.as_bytes());
    v1.push(0);
    v1.extend_from_slice(&7u64.to_le_bytes());
    v1.extend_from_slice(&0u16.to_le_bytes());
    v1.extend_from_slice(&0u16.to_le_bytes());
    s.debug_put_index_value(Table::Entries, unihash.as_bytes(), &v1).unwrap();
    s.debug_put_index_value(Table::Taskhash, h::<Taskhash>("old taskhash").as_bytes(), unihash.as_bytes()).unwrap();
    s.pin("release", RootTarget::Entry(unihash)).unwrap();
    s.debug_put_index_value(Table::Meta, b"schema", b"1").unwrap();
    drop(s);

    let s = Store::open(&dir).unwrap();
    assert_eq!(s.lookup(&h("old taskhash")).unwrap(), None, "records of old hashes are dropped");
    assert_eq!(s.entry(&unihash).unwrap(), None);
    let roots = s.roots().unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(roots[0].target, RootTarget::Tree(root), "the pin keeps the entry's output tree");
    assert!(s.tree_info(&root).unwrap().is_some(), "tree records stay");
    assert!(s.verify(&rstore_store::VerifyOptions::default(), &NoReporter).unwrap().is_clean());
    // A schema this rstore does not know is refused.
    s.debug_put_index_value(Table::Meta, b"schema", b"99").unwrap();
    drop(s);
    let err = Store::open(&dir).and_then(|s| s.lookup(&h("x"))).unwrap_err();
    assert!(matches!(err, StoreError::IndexSchema { .. }), "{err}");
}
