//! `FILES` patterns matched the way package.bbclass matches them: Python's
//! `glob.glob(glob.escape(root) + pattern)` (not recursive), then sorted.
//!
//! A pattern is split at `/`. A component with none of `*?[` must exist (any kind of
//! entry for the last component, a directory — following links — before it); a
//! component with them is matched with `fnmatch` rules against the names of the
//! directory: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[!abc]`,
//! a `[` without its `]` is literal; names starting with `.` only match a component
//! that starts with `.` too. A trailing `/` only matches directories.

use std::fs;
use std::path::{Path, PathBuf};

use super::tree::{TreeError, sorted_names};

/// Every path below `root` that `pattern` (an absolute path pattern) matches, sorted.
pub fn glob(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, TreeError> {
    let trailing_slash = pattern.ends_with('/');
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current = vec![root.to_path_buf()];
    for (index, component) in components.iter().enumerate() {
        let last = index + 1 == components.len();
        let dirs_only = !last || trailing_slash;
        let mut next = Vec::new();
        for dir in &current {
            if has_magic(component) {
                if !is_dir(dir) {
                    continue;
                }
                for name in sorted_names(dir)? {
                    let Some(name) = name.to_str() else { continue };
                    if name.starts_with('.') && !component.starts_with('.') {
                        continue;
                    }
                    let path = dir.join(name);
                    if fnmatch(component, name) && (!dirs_only || is_dir(&path)) {
                        next.push(path);
                    }
                }
            } else {
                let path = dir.join(component);
                let found = if dirs_only { is_dir(&path) } else { fs::symlink_metadata(&path).is_ok() };
                if found {
                    next.push(path);
                }
            }
        }
        current = next;
    }
    if components.is_empty() {
        return Ok(Vec::new());
    }
    current.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
    Ok(current)
}

/// A directory, following symbolic links (as Python's `os.path.isdir`).
fn is_dir(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// Whether a component has glob characters.
pub fn has_magic(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// Python's `fnmatch.fnmatchcase(name, pattern)` for one path component.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_at(&pattern, &name)
}

fn matches_at(pattern: &[char], name: &[char]) -> bool {
    // Iterative matching with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                '?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = bracket(&pattern[p..], name[n]) {
                        if matched {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == '[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Match `c` against the bracket expression at the start of `pattern` (which starts
/// with `[`): `Some((matched, length of the expression))`, or `None` when the `[` has
/// no closing `]` and is a literal character.
fn bracket(pattern: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = pattern.get(i) == Some(&'!');
    if negate {
        i += 1;
    }
    // A `]` right after `[` or `[!` is a member, not the end.
    if pattern.get(i) == Some(&']') {
        i += 1;
    }
    let close = i + pattern[i..].iter().position(|&ch| ch == ']')?;
    let start = if negate { 2 } else { 1 };
    let members = &pattern[start..close];
    let mut matched = false;
    let mut j = 0;
    while j < members.len() {
        if j + 2 < members.len() && members[j + 1] == '-' {
            if members[j] <= c && c <= members[j + 2] {
                matched = true;
            }
            j += 3;
        } else {
            if members[j] == c {
                matched = true;
            }
            j += 1;
        }
    }
    Some((matched != negate, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        let cases = [
            ("lib*.so.*", "libz.so.1.3.1", true),
            ("lib*.so.*", "libz.so", false),
            ("lib*.so", "libz.so", true),
            ("*.a", "libz.a", true),
            ("*", "", true),
            ("?", "ab", false),
            ("a?c", "abc", true),
            ("[abc]x", "bx", true),
            ("[!abc]x", "bx", false),
            ("[!abc]x", "dx", true),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("[-a]", "-", true),
            ("[a-]", "-", true),
            ("[", "[", true),
            ("x[", "x[", true),
            ("*a*b", "xxaxxb", true),
            ("*a*b", "xxaxxbc", false),
            ("**", "anything", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(fnmatch(pattern, name), want, "fnmatch({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn glob_matches_like_python() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for d in ["usr/lib/pkgconfig", "usr/share/doc", "usr/lib/.hidden"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["usr/lib/libz.so.1.3.1", "usr/lib/libz.a", "usr/lib/.dot.so.1"] {
            fs::write(root.join(f), b"").unwrap();
        }
        std::os::unix::fs::symlink("libz.so.1.3.1", root.join("usr/lib/libz.so.1")).unwrap();
        std::os::unix::fs::symlink("missing", root.join("usr/lib/libz.so")).unwrap();
        std::os::unix::fs::symlink("lib", root.join("usr/lib64")).unwrap();
        let rel = |pattern: &str| -> Vec<String> {
            glob(root, pattern).unwrap().iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect()
        };
        assert_eq!(rel("/usr/lib/lib*.so.*"), ["usr/lib/libz.so.1", "usr/lib/libz.so.1.3.1"]);
        assert_eq!(rel("/usr/lib/lib*.so"), ["usr/lib/libz.so"], "a dangling link is found");
        assert_eq!(rel("/usr/lib/*.so.*"), ["usr/lib/libz.so.1", "usr/lib/libz.so.1.3.1"], "dot files hidden");
        assert_eq!(rel("/usr/lib/.*"), ["usr/lib/.dot.so.1", "usr/lib/.hidden"]);
        assert_eq!(rel("/usr/share/doc"), ["usr/share/doc"]);
        assert_eq!(rel("/usr/share/man"), Vec::<String>::new());
        assert_eq!(rel("/usr/*/pkgconfig"), ["usr/lib/pkgconfig", "usr/lib64/pkgconfig"], "links to dirs followed");
        assert_eq!(rel("/usr/lib/libz.a/"), Vec::<String>::new(), "a trailing slash wants a directory");
        assert_eq!(rel("/usr/lib/"), ["usr/lib"]);
        assert_eq!(rel("/nothing/*"), Vec::<String>::new());
        assert_eq!(rel("/usr/lib/libz.so.1.3.1/x"), Vec::<String>::new());
    }
}
