//! What differs between two stored trees, path by path, with a short summary of each
//! difference: what a reproducibility check shows when diffoscope is not installed.

use rstore_store::{Node, Store, StoreError, Tree, TreeDigest, TreeEntry};
use serde::{Deserialize, Serialize};

/// One path that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// Relative to the output's root.
    pub path: String,
    /// What differs, in a few words (and lines, for text).
    pub summary: String,
}

/// Files larger than this are compared by size and first differing byte only.
const TEXT_DIFF_LIMIT: u64 = 1 << 20;
/// Lines of a text diff kept in a summary.
const TEXT_DIFF_LINES: usize = 12;

/// The paths where tree `a` (the stored output) and `b` (the rebuilt one) differ, at
/// most `limit` of them, in path order. Identical subtrees are skipped by digest.
pub fn differences(store: &Store, a: &TreeDigest, b: &TreeDigest, limit: usize) -> Result<Vec<Difference>, StoreError> {
    let mut out = Vec::new();
    if a != b {
        walk(store, &store.read_tree(a)?, &store.read_tree(b)?, "", limit, &mut out)?;
    }
    Ok(out)
}

fn walk(
    store: &Store,
    a: &Tree,
    b: &Tree,
    prefix: &str,
    limit: usize,
    out: &mut Vec<Difference>,
) -> Result<(), StoreError> {
    let (mut i, mut j) = (0, 0);
    let (ea, eb) = (a.entries(), b.entries());
    while (i < ea.len() || j < eb.len()) && out.len() < limit {
        let order = match (ea.get(i), eb.get(j)) {
            (Some(x), Some(y)) => x.name.as_bytes().cmp(y.name.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(Difference { path: join(prefix, &ea[i]), summary: "only in the stored output".into() });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(Difference { path: join(prefix, &eb[j]), summary: "only in the rebuilt output".into() });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                entry(store, &ea[i], &eb[j], &join(prefix, &ea[i]), limit, out)?;
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

fn join(prefix: &str, e: &TreeEntry) -> String {
    let name = String::from_utf8_lossy(e.name.as_bytes());
    if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") }
}

fn entry(
    store: &Store,
    x: &TreeEntry,
    y: &TreeEntry,
    path: &str,
    limit: usize,
    out: &mut Vec<Difference>,
) -> Result<(), StoreError> {
    let mut notes = Vec::new();
    if x.mode != y.mode {
        notes.push(format!("mode {:04o} → {:04o}", x.mode, y.mode));
    }
    if x.owner != y.owner {
        let show = |o: Option<rstore_store::Owner>| o.map(|o| format!("{}:{}", o.uid, o.gid)).unwrap_or("-".into());
        notes.push(format!("owner {} → {}", show(x.owner), show(y.owner)));
    }
    match (&x.node, &y.node) {
        (Node::Directory { digest: da, .. }, Node::Directory { digest: db, .. }) => {
            if !notes.is_empty() {
                out.push(Difference { path: path.to_owned(), summary: notes.join("; ") });
            }
            if da != db {
                walk(store, &store.read_tree(da)?, &store.read_tree(db)?, path, limit, out)?;
            }
            return Ok(());
        }
        (Node::File { digest: da, size: sa }, Node::File { digest: db, size: sb }) => {
            if da != db {
                notes.push(file_summary(store, da, *sa, db, *sb)?);
            }
        }
        (Node::Symlink { target: ta }, Node::Symlink { target: tb }) => {
            if ta != tb {
                notes.push(format!("symlink target {ta} → {tb}"));
            }
        }
        (p, q) => notes.push(format!("a {} became a {}", p.kind_name(), q.kind_name())),
    }
    if !notes.is_empty() {
        out.push(Difference { path: path.to_owned(), summary: notes.join("; ") });
    }
    Ok(())
}

/// Sizes and the first differing byte; for text files, the lines that differ.
fn file_summary(
    store: &Store,
    a: &rstore_store::BlobDigest,
    size_a: u64,
    b: &rstore_store::BlobDigest,
    size_b: u64,
) -> Result<String, StoreError> {
    let sizes = if size_a == size_b { format!("{size_a} bytes") } else { format!("{size_a} → {size_b} bytes") };
    if size_a > TEXT_DIFF_LIMIT || size_b > TEXT_DIFF_LIMIT {
        return Ok(format!("contents differ ({sizes})"));
    }
    let (da, db) = (store.read_blob(a)?, store.read_blob(b)?);
    let first = da.iter().zip(&db).position(|(p, q)| p != q).unwrap_or(da.len().min(db.len()));
    let mut summary = format!("contents differ ({sizes}), first at byte {first}");
    let text = |d: &[u8]| std::str::from_utf8(d).ok().filter(|s| !s.contains('\0')).map(str::to_owned);
    if let (Some(ta), Some(tb)) = (text(&da), text(&db)) {
        let diff = similar::TextDiff::from_lines(&ta, &tb);
        let mut lines = Vec::new();
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => continue,
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            lines.push(format!("{sign}{}", change.value().trim_end_matches('\n')));
        }
        let more = lines.len().saturating_sub(TEXT_DIFF_LINES);
        lines.truncate(TEXT_DIFF_LINES);
        if more > 0 {
            lines.push(format!("… {more} more changed lines"));
        }
        summary.push('\n');
        summary.push_str(&lines.join("\n"));
    }
    Ok(summary)
}
