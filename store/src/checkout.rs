//! Materialising trees: an uncompressed checkout cache of blobs, hardlinked into
//! place.
//!
//! `checkouts-v1/blobs/xx/<digest>.<mode>` holds each blob's contents once per
//! permission mode, read-only (write bits, setuid and setgid removed). A read-only
//! materialisation is directories plus hardlinks to those files, so it costs one
//! `link` per file and no data. `checkouts-v1/trees/xx/<digest>/` holds whole
//! read-only trees built the same way, for callers that want a stable path (for
//! example as an overlayfs lower directory). A writable materialisation clones
//! each file with a reflink where the filesystem supports it and copies otherwise.
//!
//! Files materialised read-only share their inode with the cache: anything that
//! writes through them (only possible as root, or after `chmod`) damages the cache
//! for everyone. `verify` re-hashes the cache and `verify --repair` drops damaged
//! copies, which are then rebuilt from the compressed blobs.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags};

use rayon::prelude::*;

use crate::digest::Digest;
use crate::error::{IoContext, Result, StoreError};
use crate::layout::Layout;
use crate::lock::{Scratch, remove_tree_forcibly};
use crate::objects;
use crate::reporter::{Phase, Reporter};
use crate::tree::{Attributes, Node, Tree};

/// What a materialised tree may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Hardlinks into the checkout cache; files and directories are read-only.
    ReadOnly,
    /// Independent files (reflinked where possible, else copied) the caller may change.
    Writable,
}

/// What a materialisation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MaterialiseOutcome {
    /// Regular files created.
    pub files: u64,
    /// Directories created, including the top one.
    pub directories: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Bytes decompressed into the checkout cache because they were not there yet.
    pub checked_out_bytes: u64,
    /// Files that had to be copied (or cloned) instead of hardlinked.
    pub copied_files: u64,
}

/// One directory of a plan: what to create in it.
struct PlanDir {
    rel: PathBuf,
    mode: u32,
    files: Vec<PlanFile>,
    links: Vec<PlanLink>,
}

struct PlanFile {
    name: OsString,
    digest: Digest,
    size: u64,
    /// Mode in the tree.
    mode: u32,
}

struct PlanLink {
    name: OsString,
    target: PathBuf,
}

/// A tree flattened into its directories, parents before children.
struct Plan {
    attributes: Attributes,
    dirs: Vec<PlanDir>,
}

impl Plan {
    fn counts(&self) -> (u64, u64) {
        let files = self.dirs.iter().map(|d| d.files.len() as u64).sum();
        let links = self.dirs.iter().map(|d| d.links.len() as u64).sum();
        (files, links)
    }
}

fn plan(layout: &Layout, root: &Digest) -> Result<Plan> {
    let top = objects::read_tree(layout, root)?;
    let new_dir = |rel: PathBuf, mode: u32| PlanDir { rel, mode, files: Vec::new(), links: Vec::new() };
    let mut plan = Plan { attributes: top.attributes(), dirs: vec![new_dir(PathBuf::new(), 0o755)] };
    let mut cache: HashMap<Digest, Tree> = HashMap::new();
    let mut stack: Vec<(usize, Tree)> = vec![(0, top)];
    while let Some((index, tree)) = stack.pop() {
        for entry in tree.entries() {
            let name = entry.name.as_os_str().to_owned();
            match &entry.node {
                Node::File { digest, size } => plan.dirs[index].files.push(PlanFile {
                    name,
                    digest: *digest.digest(),
                    size: *size,
                    mode: entry.mode,
                }),
                Node::Symlink { target } => {
                    plan.dirs[index].links.push(PlanLink { name, target: PathBuf::from(target.as_os_str()) })
                }
                Node::Directory { digest, .. } => {
                    let rel = plan.dirs[index].rel.join(&name);
                    plan.dirs.push(new_dir(rel, entry.mode));
                    let sub = match cache.get(digest.digest()) {
                        Some(t) => t.clone(),
                        None => {
                            let t = objects::read_tree(layout, digest.digest())?;
                            cache.insert(*digest.digest(), t.clone());
                            t
                        }
                    };
                    stack.push((plan.dirs.len() - 1, sub));
                }
            }
        }
    }
    Ok(plan)
}

/// Permission bits of a checkout file: no write, setuid or setgid bits.
pub(crate) fn checkout_mode(mode: u32) -> u32 {
    mode & 0o555
}

/// Makes sure every (blob, mode) is in the checkout cache. Returns bytes decompressed.
fn ensure_blobs(
    layout: &Layout,
    scratch: &Scratch,
    wanted: &[(Digest, u32, u64)],
    reporter: &dyn Reporter,
) -> Result<u64> {
    let missing: Vec<&(Digest, u32, u64)> =
        wanted.iter().filter(|(d, mode, _)| !layout.blob_checkout(d, *mode).exists()).collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let total: u64 = missing.iter().map(|(_, _, size)| size).sum();
    reporter.start(Phase::CheckingOut, Some(total));
    missing.par_iter().try_for_each(|(digest, mode, size)| -> Result<()> {
        let target = layout.blob_checkout(digest, *mode);
        let tmp = scratch.unique_path("checkout");
        let mut out = File::create_new(&tmp).ctx("creating", &tmp)?;
        let reader = objects::open_blob(layout, digest)?;
        let copied = reader.copy_to(&mut out, &tmp);
        drop(out);
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::set_permissions(&tmp, fs::Permissions::from_mode(*mode)).ctx("setting permissions of", &tmp)?;
        // link() never replaces an existing file: the first complete copy wins and
        // files already hardlinked elsewhere keep their inode.
        match crate::layout::place(&target, || fs::hard_link(&tmp, &target)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::io("adding to the checkout cache", target, e));
            }
        }
        fs::remove_file(&tmp).ctx("removing", &tmp)?;
        reporter.advance(*size);
        Ok(())
    })?;
    reporter.finish(Phase::CheckingOut);
    Ok(total)
}

fn link_or_copy(source: &Path, dest: &Path, mode: u32) -> Result<bool> {
    match fs::hard_link(source, dest) {
        Ok(()) => Ok(false),
        // Too many links to one inode, or another filesystem: copy instead.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMLINK) | Some(libc::EXDEV)) => {
            clone_or_copy(source, dest, mode)?;
            Ok(true)
        }
        Err(e) => Err(StoreError::io("linking", dest, e)),
    }
}

fn clone_or_copy(source: &Path, dest: &Path, mode: u32) -> Result<()> {
    let src = File::open(source).ctx("opening", source)?;
    let out = File::create_new(dest).ctx("creating", dest)?;
    if rustix::fs::ioctl_ficlone(&out, &src).is_err() {
        drop(out);
        fs::remove_file(dest).ctx("removing", dest)?;
        fs::copy(source, dest).ctx("copying to", dest)?;
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(mode)).ctx("setting permissions of", dest)
}

/// Materialises `root` as a new directory `dest` (which must not exist yet). The
/// tree is built next to `dest` and renamed into place, so `dest` is complete or
/// absent.
pub(crate) fn materialise(
    layout: &Layout,
    scratch: &Scratch,
    root: &Digest,
    dest: &Path,
    access: Access,
    reporter: &dyn Reporter,
) -> Result<MaterialiseOutcome> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(StoreError::DestinationExists { path: dest.to_owned() });
    }
    let plan = plan(layout, root)?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let building = parent.join(format!(".{file_name}.rstore-{}-{}", std::process::id(), scratch_suffix(scratch)));
    let mut outcome = MaterialiseOutcome::default();
    let result = build(layout, scratch, &plan, &building, access, reporter, &mut outcome);
    if let Err(e) = result {
        let _ = remove_tree_forcibly(&building);
        return Err(e);
    }
    if let Err(e) = fs::rename(&building, dest) {
        let _ = remove_tree_forcibly(&building);
        if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) {
            return Err(StoreError::DestinationExists { path: dest.to_owned() });
        }
        return Err(StoreError::io("moving into place", dest, e));
    }
    Ok(outcome)
}

fn scratch_suffix(scratch: &Scratch) -> String {
    scratch.unique_path("m").file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Directory handles for the shards of the blob checkout cache, opened on first use.
struct Shards {
    parent: PathBuf,
    fds: Vec<OnceLock<Option<OwnedFd>>>,
}

impl Shards {
    fn new(parent: PathBuf) -> Self {
        Self { parent, fds: (0..256).map(|_| OnceLock::new()).collect() }
    }

    /// The shard directory of `digest`, if it exists.
    fn get(&self, digest: &Digest) -> Option<BorrowedFd<'_>> {
        let shard = usize::from(digest.as_bytes()[0]);
        self.fds[shard]
            .get_or_init(|| {
                let path = self.parent.join(format!("{shard:02x}"));
                rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()
            })
            .as_ref()
            .map(|fd| fd.as_fd())
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ctx("opening", path)
}

fn checkout_name(digest: &Digest, mode: u32) -> String {
    format!("{}.{mode:04o}", digest.to_hex())
}

fn build(
    layout: &Layout,
    scratch: &Scratch,
    plan: &Plan,
    top: &Path,
    access: Access,
    reporter: &dyn Reporter,
    outcome: &mut MaterialiseOutcome,
) -> Result<()> {
    let full = plan.attributes == Attributes::Full;
    if access == Access::Writable {
        // Copies need every source up front.
        let mut wanted: Vec<(Digest, u32, u64)> = plan
            .dirs
            .iter()
            .flat_map(|d| d.files.iter().map(|f| (f.digest, checkout_mode(f.mode), f.size)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        wanted.sort();
        outcome.checked_out_bytes = ensure_blobs(layout, scratch, &wanted, reporter)?;
    }
    let (files, links) = plan.counts();
    reporter.start(Phase::Linking, Some(plan.dirs.len() as u64 + files + links));
    for dir in &plan.dirs {
        let path = top.join(&dir.rel);
        fs::create_dir(&path).ctx("creating directory", &path)?;
    }
    reporter.advance(plan.dirs.len() as u64);
    let shards = Shards::new(layout.blob_checkouts_dir());
    let copied = AtomicU64::new(0);
    let missing: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    // One task per directory: link its files from the checkout cache (dirfd-relative,
    // so each link costs one short lookup) and create its symlinks.
    plan.dirs.par_iter().enumerate().try_for_each(|(index, dir)| -> Result<()> {
        let dir_path = top.join(&dir.rel);
        let dirfd = open_dir(&dir_path)?;
        for (i, f) in dir.files.iter().enumerate() {
            let mode = checkout_mode(f.mode);
            let dest = || dir_path.join(&f.name);
            match access {
                Access::ReadOnly => {
                    let linked = match shards.get(&f.digest) {
                        Some(shard) => rustix::fs::linkat(
                            shard,
                            checkout_name(&f.digest, mode).as_str(),
                            &dirfd,
                            f.name.as_os_str(),
                            AtFlags::empty(),
                        ),
                        None => Err(rustix::io::Errno::NOENT),
                    };
                    match linked {
                        Ok(()) => {}
                        Err(rustix::io::Errno::NOENT) => {
                            missing.lock().unwrap_or_else(|p| p.into_inner()).push((index, i));
                        }
                        Err(rustix::io::Errno::MLINK) | Err(rustix::io::Errno::XDEV) => {
                            clone_or_copy(&layout.blob_checkout(&f.digest, mode), &dest(), mode)?;
                            copied.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e).ctx("linking", dest()),
                    }
                }
                Access::Writable => {
                    let mode = if full { (f.mode & 0o1777) | 0o200 } else { f.mode };
                    clone_or_copy(&layout.blob_checkout(&f.digest, checkout_mode(f.mode)), &dest(), mode)?;
                    copied.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for link in &dir.links {
            rustix::fs::symlinkat(&link.target, &dirfd, link.name.as_os_str())
                .ctx("creating symlink", dir_path.join(&link.name))?;
        }
        reporter.advance((dir.files.len() + dir.links.len()) as u64);
        Ok(())
    })?;
    reporter.finish(Phase::Linking);

    // Files whose copy was not in the checkout cache yet: decompress, then link.
    let missing = missing.into_inner().unwrap_or_else(|p| p.into_inner());
    if !missing.is_empty() {
        let mut wanted: Vec<(Digest, u32, u64)> = missing
            .iter()
            .map(|&(d, i)| {
                let f = &plan.dirs[d].files[i];
                (f.digest, checkout_mode(f.mode), f.size)
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        wanted.sort();
        outcome.checked_out_bytes += ensure_blobs(layout, scratch, &wanted, reporter)?;
        missing.par_iter().try_for_each(|&(d, i)| -> Result<()> {
            let f = &plan.dirs[d].files[i];
            let mode = checkout_mode(f.mode);
            let dest = top.join(&plan.dirs[d].rel).join(&f.name);
            if link_or_copy(&layout.blob_checkout(&f.digest, mode), &dest, mode)? {
                copied.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })?;
    }
    outcome.directories = plan.dirs.len() as u64;
    outcome.files = files;
    outcome.symlinks = links;
    outcome.copied_files = copied.into_inner();

    // Directory modes last, deepest first, so the tree stays writable while it is built.
    for dir in plan.dirs.iter().rev() {
        let mode = match (access, full) {
            (Access::ReadOnly, false) => 0o555,
            (Access::ReadOnly, true) => checkout_mode(dir.mode) | 0o100,
            (Access::Writable, false) => 0o755,
            (Access::Writable, true) => (dir.mode & 0o1777) | 0o700,
        };
        let path = top.join(&dir.rel);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).ctx("setting permissions of", &path)?;
    }
    Ok(())
}

/// The read-only checkout directory of `root`, created on first use.
pub(crate) fn tree_checkout(
    layout: &Layout,
    scratch: &Scratch,
    root: &Digest,
    reporter: &dyn Reporter,
) -> Result<PathBuf> {
    let target = layout.tree_checkout(root);
    if target.is_dir() {
        return Ok(target);
    }
    let building = scratch.unique_path("tree");
    materialise(layout, scratch, root, &building, Access::ReadOnly, reporter)?;
    match crate::layout::place(&target, || fs::rename(&building, &target)) {
        Ok(()) => Ok(target),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
            remove_tree_forcibly(&building)?;
            Ok(target)
        }
        Err(e) => {
            let _ = remove_tree_forcibly(&building);
            Err(StoreError::io("adding to the checkout cache", target, e))
        }
    }
}
