//! Requests of the `package` and `package-deb` built-ins, read from a recipe the way
//! package.bbclass and package_deb.bbclass read it.

use std::collections::BTreeMap;
use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_evaluator::builtin::deb::archive::Compression;
use rstore_evaluator::builtin::deb::control::DebControl;
use rstore_evaluator::builtin::deb::{DebPackage, DebRequest};
use rstore_evaluator::builtin::package::{PackageFiles, PackageRequest};

use super::BuildContext;
use super::textwrap;
use super::values::{fatal, first_set, path, source_date_epoch, string, words};
use crate::datastore::{DataError, DataStore};

/// `do_package`: `${D}`, `${PKGD}`, `${PKGDEST}` and `FILES:<package>` for each of
/// `PACKAGES`.
pub fn package_request(d: &Rc<DataStore>, _ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let mut packages = Vec::new();
    for name in words(d, "PACKAGES")? {
        let files = words(d, &format!("FILES:{name}"))?;
        packages.push(PackageFiles { name, files });
    }
    Ok(BuiltinRequest::Package(PackageRequest {
        recipe: string(d, "PN")?,
        image: path(d, "D")?,
        pkgd: path(d, "PKGD")?,
        pkgdest: path(d, "PKGDEST")?,
        packages,
    }))
}

/// `do_package_write_deb`: one `.deb` per package of `PACKAGES`, with the control
/// fields package_deb.bbclass writes.
pub fn package_deb_request(d: &Rc<DataStore>, _ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let compression_name = string(d, "DEB_COMPRESSION")?;
    let compression = Compression::from_name(compression_name.trim())
        .ok_or_else(|| fatal(d, &format!("DEB_COMPRESSION {compression_name:?} is not one of xz, gzip, zstd, none")))?;
    let arch = string(d, "DPKG_ARCH")?;
    let version = string(d, "EXTENDPKGV")?;
    let file_version = format!("{}-{}", string(d, "PKGV")?, string(d, "PKGR")?);
    let mut packages = Vec::new();
    for pkg in words(d, "PACKAGES")? {
        let rdepends = string(d, &format!("RDEPENDS:{pkg}"))?;
        let depends = deb_depends(&rdepends).map_err(|problem| fatal(d, &format!("RDEPENDS:{pkg}: {problem}")))?;
        let description = first_set(d, &[&format!("DESCRIPTION:{pkg}"), "DESCRIPTION"])?;
        let control = DebControl {
            package: pkg.clone(),
            version: version.clone(),
            architecture: arch.clone(),
            maintainer: string(d, "MAINTAINER")?,
            depends,
            section: first_set(d, &[&format!("SECTION:{pkg}"), "SECTION"])?,
            priority: string(d, "PRIORITY")?,
            homepage: string(d, "HOMEPAGE")?,
            source: string(d, "BPN")?,
            summary: first_set(d, &[&format!("SUMMARY:{pkg}"), "SUMMARY"])?,
            description: description_lines(&description),
        };
        packages.push(DebPackage {
            file_name: format!("{pkg}_{file_version}_{arch}.deb"),
            allow_empty: string(d, &format!("ALLOW_EMPTY:{pkg}"))? == "1",
            control,
        });
    }
    Ok(BuiltinRequest::PackageDeb(DebRequest {
        recipe: string(d, "PN")?,
        pkgdest: path(d, "PKGDEST")?,
        deploy_dir: path(d, "DEB_DEPLOYDIR")?.join(string(d, "PACKAGE_ARCH")?),
        compression,
        source_date_epoch: source_date_epoch(d)?,
        packages,
    }))
}

/// The extended description as package_deb.bbclass lays it out: paragraphs (split at
/// blank lines) wrapped at 78 columns, an empty entry between paragraphs.
pub fn description_lines(description: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (index, paragraph) in description.split("\n\n").filter(|p| !p.trim().is_empty()).enumerate() {
        if index > 0 {
            lines.push(String::new());
        }
        lines.extend(textwrap::wrap(paragraph, 78));
    }
    lines
}

/// A dependency list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("Invalid version specification in \"({0}\" - invalid or missing operator")]
    Specification(String),
    #[error("a version constraint before any name in {0:?}")]
    NoName(String),
    #[error("entry {name} ({constraint}): unknown operator {op}")]
    Operator { name: String, constraint: String, op: String },
}

/// `rstore_deb_depends`: an RDEPENDS value to a Debian `Depends` field, names sorted,
/// `<` and `>` mapped to `<<` and `>>`; other operators than `< > = <= >=` are refused.
pub fn deb_depends(rdepends: &str) -> Result<String, DependencyError> {
    let mut fields = Vec::new();
    for (name, constraints) in explode_dep_versions2(rdepends)? {
        if constraints.is_empty() {
            fields.push(name.clone());
        }
        for constraint in constraints {
            let (op, version) = constraint.split_once(' ').unwrap_or((constraint.as_str(), ""));
            let debian = match op {
                "<" => "<<",
                ">" => ">>",
                "=" => "=",
                "<=" => "<=",
                ">=" => ">=",
                _ => {
                    return Err(DependencyError::Operator {
                        name: name.clone(),
                        constraint: constraint.clone(),
                        op: op.to_owned(),
                    });
                }
            };
            fields.push(format!("{name} ({debian} {})", version.trim()));
        }
    }
    Ok(fields.join(", "))
}

/// `bb.utils.explode_dep_versions2`: names (sorted) with their version constraints
/// (`"<op> <version>"`).
pub fn explode_dep_versions2(s: &str) -> Result<BTreeMap<String, Vec<String>>, DependencyError> {
    let mut r: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let without_commas = s.replace(',', "");
    let mut lastdep: Option<String> = None;
    let mut lastcmp = String::new();
    let mut lastver = String::new();
    let (mut incmp, mut inversion) = (false, false);
    for token in without_commas.split_whitespace() {
        let mut i = token.to_owned();
        if i.starts_with('(') {
            incmp = true;
            i = i[1..].trim().to_owned();
            if i.is_empty() {
                continue;
            }
        }
        if incmp {
            incmp = false;
            inversion = true;
            let two = ["<=", "=<", "<<", "==", "!=", ">=", "=>", ">>"];
            if two.iter().any(|p| i.starts_with(p)) {
                lastcmp = i[..2].to_owned();
                i = i[2..].to_owned();
            } else if i.starts_with(['<', '>', '=']) {
                lastcmp = i[..1].to_owned();
                i = i[1..].to_owned();
            } else {
                return Err(DependencyError::Specification(i));
            }
            if i.is_empty() {
                continue;
            }
        }
        if inversion {
            if let Some(stripped) = i.strip_suffix(')') {
                i = stripped.to_owned();
                inversion = false;
                if !lastver.is_empty() && !i.is_empty() {
                    lastver.push(' ');
                }
            }
            if !i.is_empty() {
                lastver.push_str(&i);
                let dep = lastdep.clone().ok_or_else(|| DependencyError::NoName(s.to_owned()))?;
                r.entry(dep).or_default().push(format!("{lastcmp} {lastver}"));
            }
            continue;
        }
        lastver.clear();
        lastcmp.clear();
        if r.get(&i).is_none_or(Vec::is_empty) {
            r.insert(i.clone(), Vec::new());
        }
        lastdep = Some(i);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_like_the_class() {
        assert_eq!(
            deb_depends("busybox zlib libbz2 liblzma libzstd").unwrap(),
            "busybox, libbz2, liblzma, libzstd, zlib"
        );
        assert_eq!(deb_depends("liblzma (= 5.8.1-r0)").unwrap(), "liblzma (= 5.8.1-r0)");
        assert_eq!(deb_depends("b (>=1.0) a (< 2) a").unwrap(), "a (<< 2), b (>= 1.0)");
        assert_eq!(deb_depends("c (> 1), d (<= 2)").unwrap(), "c (>> 1), d (<= 2)");
        assert_eq!(deb_depends("").unwrap(), "");
        assert!(deb_depends("x (>> 1)").unwrap_err().to_string().contains("unknown operator >>"));
        assert!(deb_depends("x (~ 1)").unwrap_err().to_string().contains("invalid or missing operator"));
    }

    #[test]
    fn description_paragraphs() {
        assert_eq!(description_lines("One.\n\nTwo.\n\n  \n"), ["One.", "", "Two."]);
        assert_eq!(description_lines(""), Vec::<String>::new());
    }
}
