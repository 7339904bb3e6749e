//! Which packages an image installs: the names it asks for and, recursively, what
//! their `Depends` and `Pre-Depends` name, each constraint checked with dpkg's
//! version ordering.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::builtin::deb::version::{Relation, Version};

/// One alternative of a dependency: `name [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(Relation, String)>,
}

/// A `Depends` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} in {text:?}")]
pub struct DependsError {
    pub text: String,
    pub problem: &'static str,
}

/// Parse a `Depends` value: comma-separated entries, each a `|`-separated list of
/// alternatives.
pub fn parse_depends(text: &str) -> Result<Vec<Vec<Dep>>, DependsError> {
    let err = |problem| DependsError { text: text.to_owned(), problem };
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut alternatives = Vec::new();
        for alternative in entry.split('|').map(str::trim) {
            let (name, rest) = match alternative.find(|c: char| c.is_whitespace() || c == '(') {
                Some(i) => (&alternative[..i], alternative[i..].trim()),
                None => (alternative, ""),
            };
            // An architecture qualifier (`name:any`) does not change what is installed here.
            let name = name.split(':').next().unwrap_or_default();
            if name.is_empty() {
                return Err(err("an empty package name"));
            }
            let constraint = if rest.is_empty() {
                None
            } else {
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| err("a version constraint not in parentheses"))?
                    .trim();
                let split = inner.find(|c: char| !matches!(c, '<' | '>' | '=')).unwrap_or(inner.len());
                let relation = Relation::parse(&inner[..split]).ok_or_else(|| err("an unknown relation"))?;
                let version = inner[split..].trim();
                Version::parse(version).map_err(|_| err("an invalid version in a constraint"))?;
                Some((relation, version.to_owned()))
            };
            alternatives.push(Dep { name: name.to_owned(), constraint });
        }
        out.push(alternatives);
    }
    Ok(out)
}

/// What [`closure`] needs to know about one available package.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub version: String,
    pub depends: Vec<Vec<Dep>>,
}

/// Why the set of packages could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no package {package} (needed by {needed_by}) among the {available} packages built for this image")]
    Missing { package: String, needed_by: String, available: usize },
    #[error("{package} needs {wanted}, but the package built is {name} {found}")]
    Unsatisfied { package: String, wanted: String, name: String, found: String },
}

/// The packages to install: `wanted` and everything they depend on, sorted by name.
/// For a dependency with alternatives the first available one that satisfies its
/// constraint is taken.
pub fn closure(available: &BTreeMap<String, Candidate>, wanted: &[String]) -> Result<Vec<String>, ResolveError> {
    let mut install = BTreeSet::new();
    let mut queue: VecDeque<(String, String)> =
        wanted.iter().map(|w| (w.clone(), "IMAGE_INSTALL".to_owned())).collect();
    while let Some((name, needed_by)) = queue.pop_front() {
        if install.contains(&name) {
            continue;
        }
        let Some(candidate) = available.get(&name) else {
            return Err(ResolveError::Missing { package: name, needed_by, available: available.len() });
        };
        install.insert(name.clone());
        for alternatives in &candidate.depends {
            let chosen = alternatives.iter().find(|d| satisfied(available, d).is_ok()).unwrap_or(&alternatives[0]);
            if let Err(found) = satisfied(available, chosen) {
                return Err(match found {
                    None => ResolveError::Missing {
                        package: chosen.name.clone(),
                        needed_by: name.clone(),
                        available: available.len(),
                    },
                    Some(found) => ResolveError::Unsatisfied {
                        package: name.clone(),
                        wanted: describe(chosen),
                        name: chosen.name.clone(),
                        found,
                    },
                });
            }
            queue.push_back((chosen.name.clone(), name.clone()));
        }
    }
    Ok(install.into_iter().collect())
}

/// `Ok` when `dep` is available in a version its constraint accepts; else the
/// version found (`None` when the package is not available at all).
fn satisfied(available: &BTreeMap<String, Candidate>, dep: &Dep) -> Result<(), Option<String>> {
    let candidate = available.get(&dep.name).ok_or(None)?;
    let Some((relation, wanted)) = &dep.constraint else { return Ok(()) };
    let (Ok(have), Ok(want)) = (Version::parse(&candidate.version), Version::parse(wanted)) else {
        return Err(Some(candidate.version.clone()));
    };
    if relation.holds(&have, &want) { Ok(()) } else { Err(Some(candidate.version.clone())) }
}

fn describe(dep: &Dep) -> String {
    match &dep.constraint {
        None => dep.name.clone(),
        Some((relation, version)) => {
            let op = match relation {
                Relation::Less => "<<",
                Relation::LessEqual => "<=",
                Relation::Equal => "=",
                Relation::GreaterEqual => ">=",
                Relation::Greater => ">>",
            };
            format!("{} ({op} {version})", dep.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(list: &[(&str, &str, &str)]) -> BTreeMap<String, Candidate> {
        list.iter()
            .map(|(n, v, d)| {
                ((*n).to_owned(), Candidate { version: (*v).to_owned(), depends: parse_depends(d).unwrap() })
            })
            .collect()
    }

    #[test]
    fn parses_debian_depends() {
        let deps = parse_depends("a, b (>= 1.0-r0) | c (<< 2), d:any (= 1:2.0)").unwrap();
        assert_eq!(deps.len(), 3);
        assert_eq!(deps[1][0].constraint, Some((Relation::GreaterEqual, "1.0-r0".into())));
        assert_eq!(deps[1][1].name, "c");
        assert_eq!(deps[2][0].name, "d");
        assert!(parse_depends("a (>= )").is_err());
        assert!(parse_depends("a (~ 1)").is_err());
        assert!(parse_depends("a >= 1").is_err());
        assert_eq!(parse_depends("").unwrap(), Vec::<Vec<Dep>>::new());
    }

    #[test]
    fn closure_follows_depends_and_checks_versions() {
        let a = available(&[
            ("group", "1.0-r0", "busybox, zlib"),
            ("busybox", "1.37.0-r0", ""),
            ("zlib", "1.3.1-r0", ""),
            ("zlib-dev", "1.3.1-r0", "zlib (= 1.3.1-r0)"),
            ("old-user", "1.0-r0", "zlib (>> 2.0)"),
            ("alt", "1.0-r0", "missing | zlib"),
        ]);
        assert_eq!(closure(&a, &["group".into()]).unwrap(), ["busybox", "group", "zlib"]);
        assert_eq!(closure(&a, &["zlib-dev".into()]).unwrap(), ["zlib", "zlib-dev"]);
        assert_eq!(closure(&a, &["alt".into()]).unwrap(), ["alt", "zlib"]);
        assert_eq!(
            closure(&a, &["old-user".into()]).unwrap_err().to_string(),
            "old-user needs zlib (>> 2.0), but the package built is zlib 1.3.1-r0"
        );
        let missing = available(&[("group", "1.0-r0", "busybox, nothing")]);
        let err = closure(&missing, &["group".into()]).unwrap_err();
        assert_eq!(err, ResolveError::Missing { package: "busybox".into(), needed_by: "group".into(), available: 1 });
        let err = closure(&missing, &["hello".into()]).unwrap_err();
        assert!(err.to_string().contains("no package hello (needed by IMAGE_INSTALL)"), "{err}");
    }
}
