//! Property tests: ingest → materialise → ingest is the identity on roots, and any
//! single-bit change in a file, a name, an executable bit or a symlink target
//! changes the root.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Fixture;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rstore_store::{Access, NoReporter, TreeDigest};

#[derive(Debug, Clone)]
enum M {
    File(Vec<u8>, bool),
    Link(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, M>),
}

fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    "[a-z0-9._-]{1,8}".prop_filter("not . or ..", |s| s != "." && s != "..").prop_map(String::into_bytes)
}

fn arb_dir() -> impl Strategy<Value = BTreeMap<Vec<u8>, M>> {
    let leaf = prop_oneof![
        (vec(any::<u8>(), 0..48), any::<bool>()).prop_map(|(c, x)| M::File(c, x)),
        "[a-z./]{1,12}".prop_map(|t| M::Link(t.into_bytes())),
    ];
    let node = leaf.prop_recursive(3, 32, 5, |inner| btree_map(arb_name(), inner, 0..5).prop_map(M::Dir));
    btree_map(arb_name(), node, 0..6)
}

fn write(dir: &Path, tree: &BTreeMap<Vec<u8>, M>) {
    fs::create_dir_all(dir).unwrap();
    for (name, node) in tree {
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        match node {
            M::File(content, exec) => {
                fs::write(&path, content).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(if *exec { 0o755 } else { 0o644 })).unwrap();
            }
            M::Link(target) => std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &path).unwrap(),
            M::Dir(sub) => write(&path, sub),
        }
    }
}

/// Every place a single-bit change can be made: (path of names, what).
#[derive(Debug, Clone, Copy)]
enum Site {
    Content,
    Exec,
    Target,
    Name,
}

fn sites(tree: &BTreeMap<Vec<u8>, M>, prefix: &mut Vec<Vec<u8>>, out: &mut Vec<(Vec<Vec<u8>>, Site)>) {
    for (name, node) in tree {
        prefix.push(name.clone());
        out.push((prefix.clone(), Site::Name));
        match node {
            M::File(content, _) => {
                if !content.is_empty() {
                    out.push((prefix.clone(), Site::Content));
                }
                out.push((prefix.clone(), Site::Exec));
            }
            M::Link(_) => out.push((prefix.clone(), Site::Target)),
            M::Dir(sub) => sites(sub, prefix, out),
        }
        prefix.pop();
    }
}

fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n != b"." && n != b".." && !n.contains(&b'/') && !n.contains(&0)
}

/// Flips one bit at `site`; `pick` chooses the byte and bit. Returns false if no
/// valid flip exists there.
fn mutate(tree: &mut BTreeMap<Vec<u8>, M>, path: &[Vec<u8>], site: Site, pick: u64) -> bool {
    let (name, rest) = path.split_first().unwrap();
    if !rest.is_empty() {
        let Some(M::Dir(sub)) = tree.get_mut(name) else { unreachable!() };
        return mutate(sub, rest, site, pick);
    }
    let flip = |bytes: &mut Vec<u8>, ok: &dyn Fn(&[u8]) -> bool| -> bool {
        let total = bytes.len() as u64 * 8;
        for k in 0..total {
            let bit = (pick + k) % total;
            let mut candidate = bytes.clone();
            candidate[(bit / 8) as usize] ^= 1 << (bit % 8);
            if ok(&candidate) {
                *bytes = candidate;
                return true;
            }
        }
        false
    };
    match site {
        Site::Name => {
            let mut new_name = name.clone();
            let taken: Vec<Vec<u8>> = tree.keys().cloned().collect();
            if !flip(&mut new_name, &|c| valid_name(c) && !taken.iter().any(|t| t == c)) {
                return false;
            }
            let node = tree.remove(name).unwrap();
            tree.insert(new_name, node);
            true
        }
        Site::Content => match tree.get_mut(name) {
            Some(M::File(content, _)) => flip(content, &|_| true),
            _ => unreachable!(),
        },
        Site::Exec => match tree.get_mut(name) {
            Some(M::File(_, exec)) => {
                *exec = !*exec;
                true
            }
            _ => unreachable!(),
        },
        Site::Target => match tree.get_mut(name) {
            Some(M::Link(target)) => flip(target, &|c| !c.is_empty() && !c.contains(&0)),
            _ => unreachable!(),
        },
    }
}

#[test]
fn ingest_materialise_ingest_is_stable() {
    let f = Fixture::new();
    let counter = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    runner
        .run(&arb_dir(), |tree| {
            counter.set(counter.get() + 1);
            let n = counter.get();
            let src = f.path(&format!("p{n}"));
            write(&src, &tree);
            let root = f.ingest(&src).root;
            let ro = f.path(&format!("p{n}-ro"));
            f.store.materialise(&root, &ro, Access::ReadOnly, &NoReporter).unwrap();
            prop_assert_eq!(f.ingest(&ro).root, root);
            let rw = f.path(&format!("p{n}-rw"));
            f.store.materialise(&root, &rw, Access::Writable, &NoReporter).unwrap();
            prop_assert_eq!(f.ingest(&rw).root, root);
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_single_bit_change_changes_the_root() {
    let f = Fixture::new();
    let counter = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config { cases: 96, ..Config::default() });
    let strategy = (arb_dir().prop_filter("needs an entry", |t| !t.is_empty()), any::<u64>(), any::<u64>());
    runner
        .run(&strategy, |(tree, which, pick)| {
            let mut all = Vec::new();
            sites(&tree, &mut Vec::new(), &mut all);
            let (path, site) = all[(which % all.len() as u64) as usize].clone();
            let mut changed = tree.clone();
            if !mutate(&mut changed, &path, site, pick) {
                return Ok(());
            }
            counter.set(counter.get() + 1);
            let n = counter.get();
            let a = f.path(&format!("a{n}"));
            let b = f.path(&format!("b{n}"));
            write(&a, &tree);
            write(&b, &changed);
            let ra: TreeDigest = f.ingest(&a).root;
            let rb: TreeDigest = f.ingest(&b).root;
            prop_assert_ne!(ra, rb, "{:?} at {:?} did not change the root", site, path);
            Ok(())
        })
        .unwrap();
}
