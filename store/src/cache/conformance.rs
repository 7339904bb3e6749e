//! The tests every [`Cache`] implementation passes (each implementation's test module
//! and the HTTP servers' integration tests call [`run_all`]).

use crate::digest::{BlobDigest, Digest, Outhash, Taskhash, Unihash};
use crate::entry::Entry;
use crate::error::ObjectKind;
use crate::records::Equivalence;
use crate::tree::{Attributes, Name, Node, Tree, TreeEntry};

use super::record::{EntryRecord, EquivalenceRecord};
use super::{Cache, Key};

/// A blob's raw object: one zstd frame of `contents`.
pub fn raw_blob(contents: &[u8]) -> (Digest, Vec<u8>) {
    let raw = zstd::bulk::compress(contents, 3).expect("compressing in memory");
    (*BlobDigest::of_contents(contents).digest(), raw)
}

/// A small output: a blob, a tree naming it, an entry record and an equivalence record.
pub struct Sample {
    pub blob: (Digest, Vec<u8>),
    pub tree: (Digest, Vec<u8>),
    pub entry: EntryRecord,
    pub equivalence: EquivalenceRecord,
}

/// A sample output whose contents depend on `seed`.
pub fn sample(seed: &str) -> Sample {
    let contents = format!("contents of {seed}\n");
    let blob = raw_blob(contents.as_bytes());
    let name = Name::new(b"file".to_vec()).expect("a valid name");
    let node = Node::File { digest: BlobDigest::from_digest(blob.0), size: contents.len() as u64 };
    let tree = Tree::new(Attributes::Plain, vec![TreeEntry::plain(name, node, false)]).expect("a valid tree");
    let root = tree.digest();
    let taskhash = Taskhash::from_digest(Digest::of_bytes(format!("taskhash {seed}").as_bytes()));
    let unihash = Unihash::from_digest(*taskhash.digest());
    let entry = EntryRecord {
        identity: format!("{seed}:do_install"),
        taskhash,
        unihash,
        entry: Entry {
            root,
            log: Some(BlobDigest::from_digest(blob.0)),
            duration_ms: 7,
            host_fingerprint: None,
            signatures: vec![],
        },
        signatures: vec![],
    };
    let other = Taskhash::from_digest(Digest::of_bytes(format!("changed {seed}").as_bytes()));
    let equivalence = EquivalenceRecord {
        equivalence: Equivalence {
            identity: entry.identity.clone(),
            taskhash: other,
            unihash,
            outhash: Outhash::of_tree(root),
        },
        signatures: vec![],
    };
    Sample { blob, tree: (*root.digest(), tree.encode()), entry, equivalence }
}

fn keys(s: &Sample) -> [Key; 4] {
    [
        Key::Object(ObjectKind::Blob, s.blob.0),
        Key::Object(ObjectKind::Tree, s.tree.0),
        Key::Entry(s.entry.unihash),
        Key::Equivalence(s.equivalence.equivalence.taskhash),
    ]
}

/// Pushes a sample in a cache's order: blobs, trees, entry, equivalence.
pub fn push(cache: &dyn Cache, s: &Sample) {
    cache.initialise().expect("initialising");
    cache.put(&Key::Object(ObjectKind::Blob, s.blob.0), &s.blob.1).expect("putting a blob");
    cache.put(&Key::Object(ObjectKind::Tree, s.tree.0), &s.tree.1).expect("putting a tree");
    cache.put(&Key::Entry(s.entry.unihash), &s.entry.encode()).expect("putting an entry");
    cache
        .put(&Key::Equivalence(s.equivalence.equivalence.taskhash), &s.equivalence.encode())
        .expect("putting an equivalence");
}

/// Every test, in order, on one (empty) cache.
pub fn run_all(cache: &dyn Cache) {
    empty_cache_holds_nothing(cache);
    values_come_back_as_put(cache);
    existence_and_batches_keep_order(cache);
    putting_twice_is_harmless(cache);
}

/// Nothing is there before it is put.
pub fn empty_cache_holds_nothing(cache: &dyn Cache) {
    let s = sample("empty");
    let k = keys(&s);
    assert_eq!(cache.contains(&k).expect("asking"), vec![false; 4], "{}", cache.url());
    for key in &k {
        assert!(cache.get(key).expect("getting").is_none(), "{}: {key}", cache.url());
    }
}

/// Objects come back byte for byte; records come back as the same record.
pub fn values_come_back_as_put(cache: &dyn Cache) {
    let s = sample("round-trip");
    push(cache, &s);
    let k = keys(&s);
    assert_eq!(cache.contains(&k).expect("asking"), vec![true; 4], "{}", cache.url());
    assert_eq!(cache.get(&k[0]).expect("getting").as_deref(), Some(s.blob.1.as_slice()));
    assert_eq!(cache.get(&k[1]).expect("getting").as_deref(), Some(s.tree.1.as_slice()));
    let entry = EntryRecord::decode(&cache.get(&k[2]).expect("getting").expect("an entry")).expect("decoding");
    assert_eq!(
        (&entry.identity, entry.taskhash, entry.unihash),
        (&s.entry.identity, s.entry.taskhash, s.entry.unihash)
    );
    assert_eq!(entry.entry.root, s.entry.entry.root);
    assert_eq!(entry.entry.log, s.entry.entry.log);
    let eq = EquivalenceRecord::decode(&cache.get(&k[3]).expect("getting").expect("an equivalence")).expect("decoding");
    assert_eq!(eq.equivalence, s.equivalence.equivalence);
}

/// Existence and batched gets answer in the order asked, for many keys at once.
pub fn existence_and_batches_keep_order(cache: &dyn Cache) {
    let present: Vec<Sample> = (0..20).map(|i| sample(&format!("batch-{i}"))).collect();
    for s in &present {
        push(cache, s);
    }
    let mut asked = Vec::new();
    let mut expected = Vec::new();
    for i in 0..300 {
        let s = &present[i % present.len()];
        if i % 3 == 0 {
            asked.push(Key::Object(ObjectKind::Blob, Digest::of_bytes(format!("absent {i}").as_bytes())));
            expected.push(false);
        } else {
            asked.push(keys(s)[i % 4]);
            expected.push(true);
        }
    }
    assert_eq!(cache.contains(&asked).expect("asking"), expected, "{}", cache.url());
    let got = cache.get_many(&asked);
    assert_eq!(got.len(), asked.len());
    for ((key, answer), want) in asked.iter().zip(got).zip(&expected) {
        assert_eq!(answer.expect("getting").is_some(), *want, "{}: {key}", cache.url());
    }
}

/// Putting the same value again changes nothing.
pub fn putting_twice_is_harmless(cache: &dyn Cache) {
    let s = sample("twice");
    push(cache, &s);
    push(cache, &s);
    assert_eq!(
        cache.get(&Key::Object(ObjectKind::Blob, s.blob.0)).expect("getting").as_deref(),
        Some(s.blob.1.as_slice())
    );
}
