//! Requests of the fetch, unpack and patch built-ins (`base.bbclass`'s `do_fetch`,
//! `do_unpack` and `do_patch`).
//!
//! What SRC_URI means is asked of the bundled `bb.fetch2` (the same answers BitBake's
//! fetcher gives: methods, download file names, FILESPATH lookups, expected checksums,
//! SRCREV, git clone names), and the mirror URLs are worked out by
//! `fetch_plan.py` the way BitBake's fetcher rewrites URLs with PREMIRRORS and
//! MIRRORS. Here the answers become plain requests: host paths (local files, `file://`
//! mirrors, local git repositories, the download cache) become read-only binds at
//! fixed paths inside the sandbox, and nothing BitBake-specific is left for the
//! evaluator to interpret.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use rstore_evaluator::admit::{ExpectedClone, ExpectedDownload};
use rstore_evaluator::builtin::fetch::checksum::{Algorithm, Checksum, Expected};
use rstore_evaluator::builtin::fetch::{
    Candidate, CandidateKind, FETCHED_DIR, FetchRequest, GitSource, HttpSettings, LocalSource, NetworkPolicy,
    RemoteFile, Source, Stage, fetched_file, fetched_local, git_checkout_dir,
};
use rstore_evaluator::builtin::patch::{PatchEntry, PatchRequest};
use rstore_evaluator::builtin::unpack::archive::{Compression, Format};
use rstore_evaluator::builtin::unpack::{UnpackAction, UnpackEntry, UnpackRequest};
use rstore_evaluator::builtin::{Bind, BuiltinRequest};
use serde::Deserialize;

use super::BuildContext;
use crate::datastore::{DataError, DataStore};
use crate::truth::{BOOLEAN_SPELLINGS, to_boolean};

/// Where host files the fetch task reads are mounted inside the sandbox.
const LOCAL_INSIDE: &str = "/rstore/sources";
const MIRRORS_INSIDE: &str = "/rstore/mirrors";

const PLAN_SOURCE: &str = include_str!("fetch_plan.py");

thread_local! {
    static PLAN_MODULE: RefCell<Option<Py<PyModule>>> = const { RefCell::new(None) };
}

/// One SRC_URI entry as `fetch_plan.py` describes it.
#[derive(Debug, Deserialize)]
struct Planned {
    url: String,
    #[serde(rename = "type")]
    scheme: String,
    path: String,
    params: BTreeMap<String, String>,
    #[serde(flatten)]
    kind: PlannedKind,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum PlannedKind {
    Local {
        found: Option<String>,
        searched: Vec<String>,
    },
    File {
        name: String,
        /// Where BitBake's fetcher puts it, relative to DL_DIR.
        #[serde(default)]
        local: Option<String>,
        sha256: Option<String>,
        md5: Option<String>,
        sha256_flag: String,
        upstream: String,
        premirrors: Vec<PlannedCandidate>,
        mirrors: Vec<PlannedCandidate>,
    },
    Git {
        revision: String,
        clone_name: String,
        upstream: String,
        proto: String,
        premirrors: Vec<PlannedCandidate>,
        mirrors: Vec<PlannedCandidate>,
    },
    Unsupported {
        method: String,
    },
}

#[derive(Debug, Deserialize)]
struct PlannedCandidate {
    url: String,
    #[serde(rename = "type")]
    scheme: String,
    tarball: bool,
    /// The host path of a `file://` mirror or local git repository.
    path: Option<String>,
}

/// The SRC_URI entries of `d`, described by the bundled fetcher.
fn plan(d: &Rc<DataStore>) -> Result<Vec<Planned>, DataError> {
    let rt = crate::python::runtime().map_err(|e| DataError::Fatal(e.to_string()))?;
    let json = Python::attach(|py| {
        let run = || -> PyResult<String> {
            let module = plan_module(py)?;
            let dobj = crate::python::datasmart::wrap(py, d.clone())?;
            module.bind(py).getattr("plan")?.call1((dobj,))?.extract()
        };
        run().map_err(|e| rt.error_from_py(py, e))
    })?;
    serde_json::from_str(&json)
        .map_err(|e| DataError::Fatal(format!("reading the fetcher's description of SRC_URI: {e}")))
}

fn plan_module(py: Python<'_>) -> PyResult<Py<PyModule>> {
    if let Some(m) = PLAN_MODULE.with(|m| m.borrow().as_ref().map(|m| m.clone_ref(py))) {
        return Ok(m);
    }
    let source = CString::new(PLAN_SOURCE).expect("no NUL in fetch_plan.py");
    let module = PyModule::from_code(py, &source, c"rstore/fetch_plan.py", c"_rstore_fetch_plan")?.unbind();
    PLAN_MODULE.with(|m| *m.borrow_mut() = Some(module.clone_ref(py)));
    Ok(module)
}

fn fatal(pn: &str, msg: impl std::fmt::Display) -> DataError {
    DataError::Fatal(format!("{pn}: {msg}"))
}

fn var(d: &Rc<DataStore>, name: &str) -> Result<String, DataError> {
    Ok(d.get_str(name)?.unwrap_or_default())
}

/// A variable read with `bb.utils.to_boolean` (unset and empty are false).
fn boolean_var(d: &Rc<DataStore>, pn: &str, name: &str) -> Result<bool, DataError> {
    Ok(to_boolean(var(d, name)?.trim()).map_err(|e| fatal(pn, format!("{name}: {e}")))?.unwrap_or(false))
}

/// A relative path with no `..` (for names taken from SRC_URI).
fn relative(pn: &str, url: &str, what: &str, path: &str) -> Result<PathBuf, DataError> {
    let p = Path::new(path.trim_start_matches('/'));
    if p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(fatal(pn, format!("{url}: the {what} {path:?} must not contain '..'")));
    }
    Ok(p.components().collect())
}

/// The checksums SRC_URI gives a file (empty values are none).
fn expected(pn: &str, url: &str, sha256: Option<String>, md5: Option<String>) -> Result<Expected, DataError> {
    let parse = |algorithm, value: Option<String>| -> Result<Option<Checksum>, DataError> {
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| Checksum::parse(algorithm, &v).map_err(|e| fatal(pn, format!("{url}: {e}"))))
            .transpose()
    };
    Ok(Expected { sha256: parse(Algorithm::Sha256, sha256)?, md5: parse(Algorithm::Md5, md5)? })
}

/// Host paths bound into the fetch task, each once, at numbered inside paths.
struct Binds {
    list: Vec<Bind>,
    inside_of: BTreeMap<(PathBuf, &'static str), PathBuf>,
}

impl Binds {
    fn add(&mut self, host: &Path, under: &'static str) -> PathBuf {
        if let Some(inside) = self.inside_of.get(&(host.to_path_buf(), under)) {
            return inside.clone();
        }
        let n = self.list.iter().filter(|b| b.inside.starts_with(under)).count();
        let name = host.file_name().map(|s| s.to_os_string()).unwrap_or_else(|| "root".into());
        let inside = Path::new(under).join(n.to_string()).join(name);
        self.list.push(Bind { host: host.to_path_buf(), inside: inside.clone(), writable: false });
        self.inside_of.insert((host.to_path_buf(), under), inside.clone());
        inside
    }
}

/// The request of `do_fetch`.
pub fn fetch_request(d: &Rc<DataStore>, ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let pn = var(d, "PN")?;
    let downloads = PathBuf::from(var(d, "DL_DIR")?);
    let fetched = PathBuf::from(var(d, "WORKDIR")?).join(FETCHED_DIR);
    let policy = NetworkPolicy {
        no_network: boolean_var(d, &pn, "BB_NO_NETWORK")?,
        premirror_only: boolean_var(d, &pn, "BB_FETCH_PREMIRRORONLY")?,
    };
    std::fs::create_dir_all(&ctx.downloads)
        .map_err(|e| fatal(&pn, format!("creating the download cache {}: {e}", ctx.downloads.display())))?;
    let mut binds = Binds {
        list: vec![Bind { host: ctx.downloads.clone(), inside: downloads.clone(), writable: true }],
        inside_of: BTreeMap::new(),
    };
    let mut sources = Vec::new();
    for p in plan(d)? {
        match p.kind {
            PlannedKind::Local { found, searched } => {
                relative(&pn, &p.url, "path", &p.path)?;
                let Some(found) = found else {
                    return Err(fatal(
                        &pn,
                        format!("{} was not found; the paths searched were:\n    {}", p.url, searched.join("\n    ")),
                    ));
                };
                let source = binds.add(Path::new(&found), LOCAL_INSIDE);
                sources.push(Source::Local(LocalSource { url: p.url, path: p.path, source }));
            }
            PlannedKind::File { name, sha256, md5, sha256_flag, upstream, premirrors, mirrors, .. } => {
                let expected = expected(&pn, &p.url, sha256, md5)?;
                let mut candidates = Vec::new();
                for c in &premirrors {
                    candidates.extend(file_candidate(&mut binds, c, Stage::Premirror, CandidateKind::File));
                }
                candidates.push(Candidate { url: upstream, stage: Stage::Upstream, kind: CandidateKind::File });
                for c in &mirrors {
                    candidates.extend(file_candidate(&mut binds, c, Stage::Mirror, CandidateKind::File));
                }
                sources.push(Source::File(RemoteFile { url: p.url, name, expected, sha256_flag, candidates }));
            }
            PlannedKind::Git { revision, clone_name, upstream, proto, premirrors, mirrors } => {
                let mut candidates = Vec::new();
                for c in &premirrors {
                    candidates.extend(git_candidate(&mut binds, c, Stage::Premirror));
                }
                if proto == "file" {
                    let host = Path::new(&p.path);
                    if !host.is_dir() {
                        return Err(fatal(&pn, format!("{}: the git repository {} does not exist", p.url, p.path)));
                    }
                    let inside = binds.add(host, MIRRORS_INSIDE);
                    let url = format!("file://{}", inside.display());
                    candidates.push(Candidate { url, stage: Stage::Upstream, kind: CandidateKind::GitRepository });
                } else {
                    candidates.push(Candidate {
                        url: upstream,
                        stage: Stage::Upstream,
                        kind: CandidateKind::GitRepository,
                    });
                }
                for c in &mirrors {
                    candidates.extend(git_candidate(&mut binds, c, Stage::Mirror));
                }
                let subpath = p.params.get("subpath").cloned();
                sources.push(Source::Git(GitSource { url: p.url, revision, clone_name, candidates, subpath }));
            }
            PlannedKind::Unsupported { method } => {
                return Err(fatal(
                    &pn,
                    format!("{}: rstore cannot fetch {}:// sources (BitBake's {method} fetcher)", p.url, p.scheme),
                ));
            }
        }
    }
    // git over the network checks certificates against the host's CA store (the
    // sandbox's /etc is its own).
    let network_git = sources
        .iter()
        .any(|s| matches!(s, Source::Git(g) if g.candidates.iter().any(|c| !c.url.starts_with("file://"))));
    let certs = Path::new("/etc/ssl/certs");
    if network_git && certs.is_dir() {
        binds.list.push(Bind { host: certs.to_path_buf(), inside: certs.to_path_buf(), writable: false });
    }
    Ok(BuiltinRequest::Fetch(FetchRequest {
        recipe: pn,
        downloads,
        fetched,
        sources,
        policy,
        http: HttpSettings::default(),
        binds: binds.list,
    }))
}

/// What a `do_fetch` run by BitBake's own fetcher may add to DL_DIR (see
/// `rstore_evaluator::admit`).
#[derive(Debug, Default)]
pub struct FetchedByBitbake {
    /// The recipe's downloaded files, with their checksums.
    pub files: Vec<ExpectedDownload>,
    /// Its git clones (in `git2/`), with the revisions it takes from each.
    pub clones: Vec<ExpectedClone>,
    /// SRC_URI entries of fetchers whose downloads rstore cannot name.
    pub unchecked: Vec<String>,
}

/// The downloads of `d`'s SRC_URI, as the bundled fetcher names them.
pub fn fetched_by_bitbake(d: &Rc<DataStore>) -> Result<FetchedByBitbake, DataError> {
    let pn = var(d, "PN")?;
    let mut out = FetchedByBitbake::default();
    for p in plan(d)? {
        match p.kind {
            PlannedKind::Local { .. } => {}
            PlannedKind::File { name, local, sha256, md5, .. } => {
                let expected = expected(&pn, &p.url, sha256, md5)?;
                let name = relative(&pn, &p.url, "download file name", local.as_deref().unwrap_or(&name))?;
                out.files.push(ExpectedDownload { name, url: p.url, expected });
            }
            PlannedKind::Git { revision, clone_name, .. } => {
                let name = relative(&pn, &p.url, "clone name", &format!("git2/{clone_name}"))?;
                match out.clones.iter_mut().find(|c| c.name == name) {
                    Some(c) => c.revisions.push(revision),
                    None => out.clones.push(ExpectedClone { name, url: p.url, revisions: vec![revision] }),
                }
            }
            PlannedKind::Unsupported { .. } => out.unchecked.push(p.url),
        }
    }
    Ok(out)
}

/// A mirror candidate of a file (or of a git mirror tarball): network URLs as they
/// are, `file://` ones bound in when the file exists (and dropped when not).
fn file_candidate(binds: &mut Binds, c: &PlannedCandidate, stage: Stage, kind: CandidateKind) -> Option<Candidate> {
    match c.scheme.as_str() {
        "file" => {
            let host = Path::new(c.path.as_deref()?);
            if !host.is_file() {
                tracing::debug!("mirror file {} does not exist", host.display());
                return None;
            }
            let inside = binds.add(host, MIRRORS_INSIDE);
            Some(Candidate { url: format!("file://{}", inside.display()), stage, kind })
        }
        "http" | "https" | "ftp" | "ftps" => Some(Candidate { url: c.url.clone(), stage, kind }),
        _ => None,
    }
}

fn git_candidate(binds: &mut Binds, c: &PlannedCandidate, stage: Stage) -> Option<Candidate> {
    if c.tarball {
        return file_candidate(binds, c, stage, CandidateKind::GitTarball);
    }
    if c.scheme != "git" {
        return None;
    }
    match &c.path {
        Some(path) => {
            let host = Path::new(path);
            if !host.is_dir() {
                return None;
            }
            let inside = binds.add(host, MIRRORS_INSIDE);
            Some(Candidate { url: format!("file://{}", inside.display()), stage, kind: CandidateKind::GitRepository })
        }
        None => Some(Candidate { url: c.url.clone(), stage, kind: CandidateKind::GitRepository }),
    }
}

/// The request of `do_unpack`.
pub fn unpack_request(d: &Rc<DataStore>, _ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let pn = var(d, "PN")?;
    let unpackdir = PathBuf::from(var(d, "UNPACKDIR")?);
    let fetched = PathBuf::from(var(d, "WORKDIR")?).join(FETCHED_DIR);
    let mut entries = Vec::new();
    for p in plan(d)? {
        let subdir = match p.params.get("subdir") {
            None => PathBuf::new(),
            Some(s) if Path::new(s).is_absolute() => match Path::new(s).strip_prefix(&unpackdir) {
                Ok(rel) => rel.to_path_buf(),
                Err(_) => {
                    return Err(fatal(&pn, format!("{}: subdir {s} is not a subdirectory of UNPACKDIR", p.url)));
                }
            },
            Some(s) => relative(&pn, &p.url, "subdir", s)?,
        };
        let unpack = match p.params.get("unpack") {
            None => true,
            Some(v) => to_boolean(v)
                .map_err(|_| fatal(&pn, format!("{}: invalid value for unpack: {v:?} ({BOOLEAN_SPELLINGS})", p.url)))?
                .unwrap_or(true),
        };
        if p.params.get("dos").and_then(|v| to_boolean(v).ok().flatten()).unwrap_or(false) {
            return Err(fatal(&pn, format!("{}: dos=1 (converting text files of a zip) is not supported", p.url)));
        }
        let strip = match p.params.get("striplevel") {
            None => 0,
            Some(v) => v.parse().map_err(|_| fatal(&pn, format!("{}: invalid striplevel {v:?}", p.url)))?,
        };
        let (source, name, copy_to) = match &p.kind {
            PlannedKind::Local { .. } => {
                let rel = relative(&pn, &p.url, "path", p.path.trim_end_matches('/'))?;
                (fetched_local(&fetched, &p.path), p.path.trim_end_matches('/').to_owned(), subdir.join(rel))
            }
            PlannedKind::File { name, .. } => (fetched_file(&fetched, name), name.clone(), subdir.join(name)),
            PlannedKind::Git { revision, clone_name, .. } => {
                // BitBake: UNPACKDIR/<subdir>/<destsuffix>, destsuffix defaulting to
                // "git/" (the subpath's last directory with subpath=, "" with subdir=).
                let default = match (p.params.get("subdir"), p.params.get("subpath")) {
                    (Some(_), _) => String::new(),
                    (None, Some(sub)) => Path::new(sub.trim_end_matches('/'))
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    (None, None) => "git".to_owned(),
                };
                let suffix = p.params.get("destsuffix").cloned().unwrap_or(default);
                let to = subdir.join(relative(&pn, &p.url, "destsuffix", suffix.trim_end_matches('/'))?);
                entries.push(UnpackEntry {
                    url: p.url.clone(),
                    source: git_checkout_dir(&fetched, clone_name, revision),
                    action: UnpackAction::Copy { to },
                });
                continue;
            }
            PlannedKind::Unsupported { method } => {
                return Err(fatal(
                    &pn,
                    format!("{}: rstore cannot unpack sources of BitBake's {method} fetcher", p.url),
                ));
            }
        };
        let base = Path::new(&name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let action = match (unpack, Format::from_name(&name), Compression::of_single_file(&base)) {
            (true, Some(format), _) => {
                let strip = if matches!(format, Format::Zip) { 0 } else { strip };
                UnpackAction::Extract { format, into: subdir.clone(), strip }
            }
            // BitBake writes a decompressed single file at the top of UNPACKDIR.
            (true, None, Some((compression, stem))) => {
                UnpackAction::Decompress { compression, to: PathBuf::from(stem) }
            }
            _ => UnpackAction::Copy { to: copy_to },
        };
        let unsupported = [".tar.Z", ".lz", ".7z", ".rpm", ".srpm"].iter().any(|ext| name.ends_with(ext));
        if unpack && unsupported {
            return Err(fatal(&pn, format!("{}: rstore cannot unpack this kind of archive ({name})", p.url)));
        }
        entries.push(UnpackEntry { url: p.url.clone(), source, action });
    }
    Ok(BuiltinRequest::Unpack(UnpackRequest { recipe: pn, unpackdir, entries }))
}

/// The request of `do_patch`: the `file://` entries ending in `.patch` or `.diff`
/// (or with `apply=yes`), in order.
pub fn patch_request(d: &Rc<DataStore>, _ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let pn = var(d, "PN")?;
    let unpackdir = PathBuf::from(var(d, "UNPACKDIR")?);
    let s = PathBuf::from(var(d, "S")?);
    let mut patches = Vec::new();
    for p in plan(d)? {
        if !matches!(p.kind, PlannedKind::Local { .. }) {
            continue;
        }
        let is_patch = match p.params.get("apply") {
            Some(v) => matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "true"),
            None => p.path.ends_with(".patch") || p.path.ends_with(".diff"),
        };
        if !is_patch {
            continue;
        }
        let subdir = p.params.get("subdir").map(String::as_str).unwrap_or("");
        let file =
            unpackdir.join(relative(&pn, &p.url, "subdir", subdir)?).join(relative(&pn, &p.url, "path", &p.path)?);
        let dir = match p.params.get("patchdir") {
            None => s.clone(),
            Some(dir) => s.join(dir),
        };
        let striplevel = match p.params.get("striplevel") {
            None => 1,
            Some(v) => v.parse().map_err(|_| fatal(&pn, format!("{}: invalid striplevel {v:?}", p.url)))?,
        };
        patches.push(PatchEntry { url: p.url, file, dir, striplevel });
    }
    Ok(BuiltinRequest::Patch(PatchRequest { recipe: pn, patches }))
}
