//! Running the peer, BitBake, from the benchmarks: BitBake refuses to run as root, so
//! when the bench runs as root BitBake runs as an unprivileged user given on the
//! command line, in a build directory that user owns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::parse::write_build_dir;

/// Where the parse and graph benchmarks find openembedded-core and BitBake.
#[derive(Debug, clap::Args)]
pub struct Checkouts {
    /// openembedded-core checkout [default: the bundled layers]
    #[arg(long, env = "RSTORE_OE_CORE_DIR")]
    oe_core: Option<PathBuf>,
    /// BitBake checkout, to time BitBake on the same layers in the same run
    #[arg(long, env = "RSTORE_BITBAKE_DIR")]
    pub bitbake: Option<PathBuf>,
    /// Run BitBake as this user (BitBake refuses to run as root)
    #[arg(long, env = "RSTORE_BENCH_BITBAKE_USER")]
    pub bitbake_user: Option<String>,
}

impl Checkouts {
    /// The openembedded-core checkout, absolute; `None` for the bundled layers.
    pub fn oe_core(&self) -> anyhow::Result<Option<PathBuf>> {
        self.oe_core.as_ref().map(|p| p.canonicalize().with_context(|| format!("reading {}", p.display()))).transpose()
    }
}

/// The user BitBake runs as: `None` for the bench's own user, `Some(user)` (through
/// `runuser`) when the bench runs as root, which then needs `user` to be given.
pub fn user(given: Option<&str>) -> anyhow::Result<Option<&str>> {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    match (root, given) {
        (true, None) => bail!("BitBake refuses to run as root: pass --bitbake-user USER (an unprivileged user)"),
        (true, Some(u)) => Ok(Some(u)),
        (false, _) => Ok(None),
    }
}

/// `sh -c SCRIPT`, as `user` when one is given.
pub fn shell(user: Option<&str>, script: &str) -> Command {
    let mut c = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "sh", "-c", script]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        }
    };
    c.env_remove("BB_SERVER_TIMEOUT");
    c
}

/// Let BitBake keep the bytecode of its Python modules (and of the layers' libraries)
/// in `dir`, as it does beside the sources on a usual machine, so that its runs are
/// not slowed by compiling them: the checkouts may not be writable by its user.
pub fn keep_bytecode(c: &mut Command, dir: &Path) {
    c.env_remove("PYTHONDONTWRITEBYTECODE");
    c.env("PYTHONPYCACHEPREFIX", dir);
}

/// Whether `user` passes every `test FLAG PATH` of `checks` (`-w` writable, `-r`
/// readable, `-x` executable): a parent directory closed to that user fails them.
pub fn user_passes(user: &str, checks: &[(&str, &Path)]) -> anyhow::Result<bool> {
    let mut c = Command::new("runuser");
    c.args(["-u", user, "--", "test"]);
    for (i, (flag, path)) in checks.iter().enumerate() {
        if i > 0 {
            c.arg("-a");
        }
        c.arg(flag).arg(path);
    }
    Ok(c.status().context("running runuser")?.success())
}

/// `chown` `paths` to `user` (`-R` when `recursive`).
pub fn chown(user: &str, paths: &[&Path], recursive: bool) -> anyhow::Result<()> {
    let mut c = Command::new("chown");
    if recursive {
        c.arg("-R");
    }
    let status = c.arg(format!("{user}:")).args(paths).status().context("running chown")?;
    if !status.success() {
        bail!("chown to {user} failed ({status})");
    }
    Ok(())
}

/// A temporary BitBake build directory over openembedded-core `oe`, configured like
/// rstore's (see [`write_build_dir`]) and owned by the user BitBake runs as.
pub struct OeCoreBuild {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bitbake: PathBuf,
    user: Option<String>,
}

impl OeCoreBuild {
    pub fn new(bitbake: &Path, oe: &Path, given_user: Option<&str>) -> anyhow::Result<OeCoreBuild> {
        let user = user(given_user)?.map(str::to_owned);
        let tmp = tempfile::Builder::new().prefix("rstore-bench-bitbake").tempdir_in("/tmp")?;
        let dir = tmp.path().join("build");
        write_build_dir(&dir, Some(oe))?;
        if let Some(user) = &user {
            chown(user, &[tmp.path()], true)?;
        }
        Ok(OeCoreBuild { _tmp: tmp, dir, bitbake: bitbake.to_owned(), user })
    }

    /// The build directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `bitbake ARGS` in the build directory, output discarded.
    pub fn command(&self, args: &str) -> Command {
        let script = format!(
            "cd {} && export PATH={}:$PATH LANG=en_US.UTF-8 && exec python3 {} {args}",
            self.dir.display(),
            self.bitbake.join("bin").display(),
            self.bitbake.join("bin/bitbake").display()
        );
        let mut c = shell(self.user.as_deref(), &script);
        keep_bytecode(&mut c, &self.dir.join("pycache"));
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    }
}
