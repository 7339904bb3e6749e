//! Which BitBake the layers are written for, and the parse rules of that BitBake.
//!
//! BitBake's parse rules change between releases (the name of the default
//! multiconfig, what finalising a recipe does to DEPENDS, which directives exist), and
//! each openembedded-core release is written for one BitBake release. rstore reads
//! layers as the BitBake they are written for would, never as configured by hand:
//!
//! 1. the user's BitBake checkout when there is one — `RSTORE_BITBAKE_DIR`, else the
//!    `bitbake` that `PATH` finds (`oe-init-build-env` puts it there): its
//!    `bb.__version__`;
//! 2. else the core layer's `LAYERSERIES_CORENAMES` (the newest series it names),
//!    through the table of release series below;
//! 3. else (layers without openembedded-core) the newest BitBake rstore knows.
//!
//! A version outside [`OLDEST`]..=[`NEWEST`] is an error that names it.
//!
//! Each behaviour that differs is one method of [`BitBakeVersion`], named after what
//! it does and documented with the BitBake change that introduced it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A BitBake release, as `bb.__version__` writes it (`2.8.1`; in JSON that string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct BitBakeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// The oldest BitBake whose layers rstore reads: 2.0 (Yocto 4.0 kirkstone).
pub const OLDEST: BitBakeVersion = BitBakeVersion::new(2, 0, 0);
/// The newest BitBake rstore knows: master (2.19).
pub const NEWEST: BitBakeVersion = BitBakeVersion::new(2, 19, u32::MAX);

/// Release series (`LAYERSERIES_CORENAMES`) and the BitBake release each is written
/// for, oldest first. The series before kirkstone are listed so that their layers get
/// an error naming them.
pub const SERIES: [(&str, BitBakeVersion); 13] = [
    ("dunfell", BitBakeVersion::new(1, 46, 0)),
    ("gatesgarth", BitBakeVersion::new(1, 48, 0)),
    ("hardknott", BitBakeVersion::new(1, 50, 0)),
    ("honister", BitBakeVersion::new(1, 52, 0)),
    ("kirkstone", BitBakeVersion::new(2, 0, 0)),
    ("langdale", BitBakeVersion::new(2, 2, 0)),
    ("mickledore", BitBakeVersion::new(2, 4, 0)),
    ("nanbield", BitBakeVersion::new(2, 6, 0)),
    ("scarthgap", BitBakeVersion::new(2, 8, 0)),
    ("styhead", BitBakeVersion::new(2, 10, 0)),
    ("walnascar", BitBakeVersion::new(2, 12, 0)),
    ("whinlatter", BitBakeVersion::new(2, 16, 0)),
    ("wrynose", BitBakeVersion::new(2, 18, 0)),
];
/// The series under development on master, read with master's rules.
const DEVELOPMENT_SERIES: &str = "blacksail";

/// Why the BitBake version could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(
        "BitBake {version} ({origin}) is not supported: rstore reads layers written for BitBake {} (kirkstone) \
         to {}.{} (master)",
        OLDEST.short(),
        NEWEST.major,
        NEWEST.minor
    )]
    Unsupported { version: BitBakeVersion, origin: String },
    #[error("{0}: no `__version__ = \"X.Y.Z\"` line: is this a BitBake checkout?")]
    NoVersion(PathBuf),
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

/// Where the version was found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    /// `bb.__version__` of this BitBake checkout.
    Checkout { dir: PathBuf },
    /// The core layer's release series.
    Series { series: String },
    /// No BitBake checkout and no release series: the newest rules.
    Newest,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Checkout { dir } => write!(f, "the BitBake checkout {}", dir.display()),
            Origin::Series { series } => write!(f, "the core layer's series {series}"),
            Origin::Newest => f.write_str("no BitBake checkout or release series found"),
        }
    }
}

/// The version the layers are read with, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Detected {
    pub version: BitBakeVersion,
    pub origin: Origin,
}

impl fmt::Display for Detected {
    /// `BitBake 2.8 (the core layer's series scarthgap)`: a series or the newest rules
    /// name a release (major.minor), a checkout its exact version.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Origin::Checkout { .. } => write!(f, "BitBake {} ({})", self.version, self.origin),
            _ => write!(f, "BitBake {} ({})", self.version.short(), self.origin),
        }
    }
}

impl BitBakeVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> BitBakeVersion {
        BitBakeVersion { major, minor, patch }
    }

    /// `major.minor`.
    pub fn short(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// Parse `2.8.1` (or `2.8`).
    pub fn parse(text: &str) -> Option<BitBakeVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            // `2.19` (how the newest development series is written): any 2.19.
            None if (major, minor) == (NEWEST.major, NEWEST.minor) => NEWEST.patch,
            None => 0,
        };
        parts.next().is_none().then_some(BitBakeVersion { major, minor, patch })
    }

    /// Whether rstore reads layers written for this version.
    pub fn supported(&self) -> bool {
        (OLDEST..=NEWEST).contains(self)
    }

    /// The name BitBake gives the default multiconfig (`BB_CURRENT_MC`): `default`
    /// until BitBake 2.10; the empty string from 2.12 on (BitBake commit 0fa0d8d76,
    /// "cooker/cache: Drop mc 'default' string value"). openembedded-core of those
    /// releases requires `conf/multiconfig/${BB_CURRENT_MC}.conf`.
    pub fn default_multiconfig(&self) -> &'static str {
        if self.major == 2 && self.minor <= 10 { "default" } else { "" }
    }

    /// Whether BB_SIGNATURE_EXCLUDE_FLAGS is a list of words (BitBake 2.19, commit
    /// 8ab71d0ce, backported to the 2.8 branch for Yocto 5.0.19) rather than a string
    /// that excludes every flag whose name occurs in it.
    pub fn excludes_signature_flags_by_word(&self) -> bool {
        (self.major, self.minor) == (2, 8) || *self >= BitBakeVersion::new(2, 19, 0)
    }

    /// Whether `export` and `unexport` flags are expanded and read with
    /// `bb.utils.to_boolean` (from BitBake 2.4, commit 3d96c07f9); before, any
    /// non-empty flag counts, so `GOARM[export] = "0"` (kirkstone's go class) exports.
    pub fn reads_export_flags_as_booleans(&self) -> bool {
        *self >= BitBakeVersion::new(2, 3, 0)
    }

    /// Whether an `EXPORT_FUNCTIONS` stub starts with the line `    # Export function
    /// set` (from BitBake 2.8, commit 66306d515), rather than being marked by an
    /// `export_func` flag (2.0): the stub's text, so the task's code, differs.
    pub fn marks_exported_functions_in_body(&self) -> bool {
        *self >= BitBakeVersion::new(2, 7, 0)
    }

    /// Whether each recipe gets FILE_LAYERNAME, the collection its file belongs to
    /// (BitBake 2.6, commit 7090a14b0).
    pub fn sets_file_layername(&self) -> bool {
        *self >= BitBakeVersion::new(2, 5, 0)
    }

    /// Whether each recipe gets `__BB_RECIPE_FILE`, its `.bb` file (BitBake 2.18,
    /// commit 2fde7821f).
    pub fn sets_recipe_file(&self) -> bool {
        *self >= BitBakeVersion::new(2, 17, 0)
    }

    /// Whether `addpylib` is a directive (BitBake 2.4, commit afb8478d3).
    pub fn has_addpylib(&self) -> bool {
        *self >= BitBakeVersion::new(2, 3, 0)
    }

    /// Whether `inherit_defer` is a directive (BitBake 2.8, commit 5c2e840ea).
    pub fn has_inherit_defer(&self) -> bool {
        *self >= BitBakeVersion::new(2, 7, 0)
    }

    /// Whether `include_all` and `addfragments` are directives (BitBake 2.12, commits
    /// d01d5593e and f68774670).
    pub fn has_include_all_and_addfragments(&self) -> bool {
        *self > BitBakeVersion::new(2, 10, u32::MAX)
    }

    /// Whether `addfragments` takes a fourth argument, the variable naming built-in
    /// fragments (BitBake 2.16, commit 3b9d7bea9); 2.12 takes three.
    pub fn has_builtin_fragments(&self) -> bool {
        *self >= BitBakeVersion::new(2, 15, 0)
    }

    /// Whether `VAR[flag] ??= value` is a weak default for the flag (BitBake 2.12,
    /// commits 0329a7e3a and 2ee079fc1); before, it sets the flag like `=`.
    pub fn has_weak_flag_defaults(&self) -> bool {
        *self > BitBakeVersion::new(2, 10, u32::MAX)
    }

    /// Whether `BB_DEFER_BBCLASSES` turns an `inherit` of the classes it lists into an
    /// `inherit_defer`, and finalising a recipe fires `RecipePreDeferredInherits`
    /// (BitBake 2.16, commits 8e741b2e8 and 205d461c0).
    pub fn defers_listed_classes(&self) -> bool {
        *self >= BitBakeVersion::new(2, 13, 0)
    }

    /// Whether finalising a recipe replaces `BB_RECIPE_VIRTUAL_PROVIDERS` in DEPENDS
    /// and task `depends` by their preferred providers — rewriting DEPENDS as a
    /// single-spaced list and giving every task a `depends` flag — as BitBake does from
    /// 2.12 on (commit fb119c788, "parse/ast: Add support for
    /// BB_RECIPE_VIRTUAL_PROVIDERS").
    pub fn remaps_virtual_recipe_providers(&self) -> bool {
        *self > BitBakeVersion::new(2, 10, u32::MAX)
    }
}

impl From<BitBakeVersion> for String {
    fn from(v: BitBakeVersion) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for BitBakeVersion {
    type Error = String;
    fn try_from(s: String) -> Result<BitBakeVersion, String> {
        BitBakeVersion::parse(&s).ok_or_else(|| format!("not a BitBake version: {s:?}"))
    }
}

impl fmt::Display for BitBakeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == u32::MAX {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// The BitBake checkout the environment names: `RSTORE_BITBAKE_DIR`, else the
/// directory above the `bin/bitbake` that `PATH` finds (symlinks resolved).
pub fn checkout_in_environment(env: &[(String, String)]) -> Option<PathBuf> {
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(dir) = get("RSTORE_BITBAKE_DIR").map(str::trim).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    for dir in get("PATH").unwrap_or_default().split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join("bitbake");
        if candidate.is_file() {
            let real = candidate.canonicalize().ok()?;
            let checkout = real.parent()?.parent()?.to_path_buf();
            if version_file(&checkout).is_file() {
                return Some(checkout);
            }
        }
    }
    None
}

/// Where a BitBake checkout says its version.
pub fn version_file(checkout: &Path) -> PathBuf {
    checkout.join("lib/bb/__init__.py")
}

/// `bb.__version__` of a BitBake checkout.
pub fn checkout_version(checkout: &Path) -> Result<BitBakeVersion, VersionError> {
    let path = version_file(checkout);
    let text = std::fs::read_to_string(&path).map_err(|error| VersionError::Io { path: path.clone(), error })?;
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("__version__")?.trim_start().strip_prefix('=')?.trim();
            BitBakeVersion::parse(rest.trim_matches(|c| c == '"' || c == '\''))
        })
        .ok_or(VersionError::NoVersion(path))
}

/// The BitBake release the newest known series among `corenames` is written for.
pub fn series_version(corenames: &[String]) -> Option<(String, BitBakeVersion)> {
    if corenames.iter().any(|n| n == DEVELOPMENT_SERIES) {
        return Some((DEVELOPMENT_SERIES.to_owned(), NEWEST));
    }
    corenames
        .iter()
        .filter_map(|n| SERIES.iter().find(|(s, _)| s == n).map(|(s, v)| ((*s).to_owned(), *v)))
        .max_by_key(|(_, v)| *v)
}

/// Settle the version: the checkout's, else the series', else the newest; an error
/// when it is not supported.
pub fn detect(checkout: Option<&Path>, corenames: &[String]) -> Result<Detected, VersionError> {
    let detected = match (checkout, series_version(corenames)) {
        (Some(dir), _) => {
            Detected { version: checkout_version(dir)?, origin: Origin::Checkout { dir: dir.to_path_buf() } }
        }
        (None, Some((series, version))) => Detected { version, origin: Origin::Series { series } },
        (None, None) => Detected { version: NEWEST, origin: Origin::Newest },
    };
    if !detected.version.supported() {
        return Err(VersionError::Unsupported { version: detected.version, origin: detected.origin.to_string() });
    }
    Ok(detected)
}

/// When a BitBake checkout of another release than the core layer's series decides
/// the rules: a warning saying so (BitBake itself would read the layers the same way,
/// and usually fail).
pub fn mismatch(detected: &Detected, corenames: &[String]) -> Option<String> {
    let Origin::Checkout { dir } = &detected.origin else { return None };
    let (series, expected) = series_version(corenames)?;
    let v = detected.version;
    ((expected.major, expected.minor) != (v.major, v.minor)).then(|| {
        format!(
            "the core layer's series {series} is written for BitBake {}, but the BitBake checkout {} is {v}: \
             reading the layers as BitBake {v} does",
            expected.short(),
            dir.display()
        )
    })
}

/// A series names a release, not its bug-fix version: when the layers'
/// `BB_MIN_VERSION` (openembedded-core's sanity.conf) asks for a later one of the same
/// release, the layers are read as that one (and `bb.__version__` says so, as the
/// layers' sanity checks expect).
pub fn at_least_minimum(detected: Detected, min_version: Option<&str>) -> Detected {
    match (&detected.origin, min_version.and_then(BitBakeVersion::parse)) {
        (Origin::Series { .. }, Some(min))
            if (min.major, min.minor) == (detected.version.major, detected.version.minor) && min > detected.version =>
        {
            Detected { version: min, ..detected }
        }
        _ => detected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(BitBakeVersion::parse("2.8.1"), Some(BitBakeVersion::new(2, 8, 1)));
        assert_eq!(BitBakeVersion::parse("2.0"), Some(BitBakeVersion::new(2, 0, 0)));
        assert_eq!(BitBakeVersion::parse("2.x"), None);
        assert_eq!(BitBakeVersion::parse("2.8.1.4"), None);
        for v in [BitBakeVersion::new(2, 8, 1), NEWEST] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<BitBakeVersion>(&json).unwrap(), v, "{json}");
        }
        assert_eq!(serde_json::to_string(&NEWEST).unwrap(), "\"2.19\"");
        assert!(BitBakeVersion::new(2, 9, 1) < BitBakeVersion::new(2, 10, 0));
        assert!(BitBakeVersion::new(2, 19, 3).supported());
        assert!(!BitBakeVersion::new(2, 20, 0).supported());
        assert!(!BitBakeVersion::new(1, 52, 0).supported());
    }

    #[test]
    fn series_name_the_bitbake_release() {
        assert_eq!(series_version(&names("kirkstone")).unwrap().1, BitBakeVersion::new(2, 0, 0));
        assert_eq!(series_version(&names("scarthgap")).unwrap().1, BitBakeVersion::new(2, 8, 0));
        // master lists the last release and the series in development.
        assert_eq!(series_version(&names("wrynose blacksail")).unwrap().1, NEWEST);
        assert_eq!(series_version(&names("nanbield scarthgap")).unwrap().1, BitBakeVersion::new(2, 8, 0));
        assert_eq!(series_version(&names("someday")), None);
    }

    #[test]
    fn detection_prefers_the_checkout_and_refuses_old_releases() {
        let d = detect(None, &names("scarthgap")).unwrap();
        assert_eq!(
            (d.version, d.origin),
            (BitBakeVersion::new(2, 8, 0), Origin::Series { series: "scarthgap".into() })
        );
        assert_eq!(detect(None, &[]).unwrap().origin, Origin::Newest);
        let e = detect(None, &names("honister")).unwrap_err().to_string();
        assert!(e.contains("BitBake 1.52.0") && e.contains("honister") && e.contains("not supported"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/bb")).unwrap();
        std::fs::write(version_file(dir.path()), "import os\n__version__ = \"2.0.0\"\n").unwrap();
        let d = detect(Some(dir.path()), &names("wrynose blacksail")).unwrap();
        assert_eq!(d.version, BitBakeVersion::new(2, 0, 0));
        std::fs::write(version_file(dir.path()), "__version__ = \"2.20.0\"\n").unwrap();
        let e = detect(Some(dir.path()), &[]).unwrap_err().to_string();
        assert!(e.contains("BitBake 2.20.0") && e.contains("checkout"), "{e}");
        std::fs::write(version_file(dir.path()), "nothing here\n").unwrap();
        assert!(matches!(detect(Some(dir.path()), &[]), Err(VersionError::NoVersion(_))));
    }

    #[test]
    fn a_checkout_of_another_release_is_noted_and_minimum_versions_refine_a_series() {
        let series =
            Detected { version: BitBakeVersion::new(2, 8, 0), origin: Origin::Series { series: "scarthgap".into() } };
        assert_eq!(mismatch(&series, &names("scarthgap")), None);
        let checkout = |v| Detected { version: v, origin: Origin::Checkout { dir: PathBuf::from("/bb") } };
        assert_eq!(mismatch(&checkout(BitBakeVersion::new(2, 8, 1)), &names("scarthgap")), None);
        let note = mismatch(&checkout(BitBakeVersion::new(2, 19, 0)), &names("scarthgap")).unwrap();
        assert!(note.contains("scarthgap is written for BitBake 2.8") && note.contains("/bb is 2.19.0"), "{note}");
        assert_eq!(mismatch(&checkout(BitBakeVersion::new(2, 19, 0)), &[]), None);

        assert_eq!(at_least_minimum(series.clone(), Some("2.8.1")).version, BitBakeVersion::new(2, 8, 1));
        // Another release's minimum (kirkstone asks for 1.53.1) or none changes nothing,
        // and a checkout says its own version.
        assert_eq!(at_least_minimum(series.clone(), Some("1.53.1")).version, BitBakeVersion::new(2, 8, 0));
        assert_eq!(at_least_minimum(series.clone(), None).version, BitBakeVersion::new(2, 8, 0));
        let c = checkout(BitBakeVersion::new(2, 8, 0));
        assert_eq!(at_least_minimum(c.clone(), Some("2.8.1")), c);
    }

    #[test]
    fn behaviours_follow_the_release() {
        let kirkstone = BitBakeVersion::new(2, 0, 0);
        let scarthgap = BitBakeVersion::new(2, 8, 1);
        let master = BitBakeVersion::new(2, 19, 0);
        assert_eq!(kirkstone.default_multiconfig(), "default");
        assert_eq!(scarthgap.default_multiconfig(), "default");
        assert_eq!(master.default_multiconfig(), "");
        assert!(!scarthgap.remaps_virtual_recipe_providers());
        assert!(!kirkstone.marks_exported_functions_in_body());
        assert!(!kirkstone.reads_export_flags_as_booleans() && scarthgap.reads_export_flags_as_booleans());
        assert!(!kirkstone.excludes_signature_flags_by_word());
        assert!(scarthgap.excludes_signature_flags_by_word() && master.excludes_signature_flags_by_word());
        assert!(!BitBakeVersion::new(2, 18, 0).excludes_signature_flags_by_word());
        assert!(!kirkstone.has_inherit_defer() && scarthgap.has_inherit_defer());
        assert!(!kirkstone.has_addpylib() && scarthgap.has_addpylib());
        assert!(!scarthgap.has_include_all_and_addfragments() && master.has_include_all_and_addfragments());
        // The 2.10 branch (styhead) calls itself 2.9.1.
        assert!(!BitBakeVersion::new(2, 9, 1).has_include_all_and_addfragments());
        assert!(!kirkstone.sets_file_layername() && scarthgap.sets_file_layername());
        assert!(!BitBakeVersion::new(2, 12, 1).has_builtin_fragments() && master.has_builtin_fragments());
        assert!(!BitBakeVersion::new(2, 12, 1).defers_listed_classes() && master.defers_listed_classes());
        assert!(!scarthgap.has_weak_flag_defaults() && master.has_weak_flag_defaults());
        assert!(!scarthgap.sets_recipe_file() && master.sets_recipe_file());
        assert!(scarthgap.marks_exported_functions_in_body());
        assert!(master.remaps_virtual_recipe_providers());
    }
}
