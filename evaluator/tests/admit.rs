//! A fetch task run by BitBake's fetcher writes DL_DIR through a layer of its own, and
//! only the recipe's verified downloads reach DL_DIR: tried for real here, shell tasks
//! in the sandbox standing in for BitBake's fetcher (writing files and git clones as it
//! does, or forging them), against a real store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rstore_evaluator::admit::{Admission, ExpectedClone, ExpectedDownload};
use rstore_evaluator::builtin::Bind;
use rstore_evaluator::builtin::fetch::checksum::{Algorithm, Expected, Hasher};
use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{Action, Prepared, SandboxExecutor, TaskFailure};
use rstore_evaluator::realise::Executor;
use rstore_sandbox::CancelHandle;
use rstore_store::Store;

struct Fixture {
    root: tempfile::TempDir,
    executor: SandboxExecutor,
    downloads: PathBuf,
    source: PathBuf,
    revision: String,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(root.path().join("store")).unwrap());
        let executor = SandboxExecutor {
            store,
            scratch: root.path().join("scratch"),
            rstore: PathBuf::from("/nonexistent/rstore"),
            cancel: CancelHandle::new().unwrap(),
            limits: Default::default(),
        };
        std::fs::create_dir_all(&executor.scratch).unwrap();
        let downloads = root.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        // An upstream repository with one commit, bound into the tasks.
        let source = root.path().join("upstream");
        std::fs::create_dir_all(&source).unwrap();
        git(&source, &["init", "-q"]);
        std::fs::write(source.join("README"), "the upstream sources\n").unwrap();
        git(&source, &["add", "README"]);
        git(&source, &["commit", "-q", "-m", "first"]);
        let revision = git(&source, &["rev-parse", "HEAD"]);
        Fixture { root, executor, downloads, source, revision }
    }

    fn admission(&self, files: Vec<ExpectedDownload>, clones: Vec<ExpectedClone>) -> Admission {
        Admission {
            downloads: self.downloads.clone(),
            inside: "/rstore/downloads".into(),
            files,
            mirrors: Vec::new(),
            clones,
        }
    }

    fn clone(&self) -> ExpectedClone {
        ExpectedClone {
            name: "git2/example.invalid.upstream.git".into(),
            url: "git://example.invalid/upstream.git;branch=main".into(),
            revisions: vec![self.revision.clone()],
        }
    }

    /// Runs `script` as `recipe:do_fetch` with `admission`.
    fn fetch(&self, recipe: &str, script: &str, admission: Admission) -> Result<(), TaskFailure> {
        let workdir = PathBuf::from(format!("/w/{recipe}"));
        let task = Prepared {
            workdir: workdir.clone(),
            dirs: vec![workdir.clone()],
            cwd: workdir,
            parallelism: Some(1),
            binds: vec![Bind { host: self.source.clone(), inside: "/upstream".into(), writable: false }],
            downloads: Some(admission),
            ..Prepared::new(
                TaskId { recipe: recipe.into(), task: "do_fetch".into() },
                Action::Shell {
                    script: format!(
                        "set -e\nDL=/rstore/downloads\nexport GIT_CONFIG_NOSYSTEM=1 HOME=/tmp\n\
                         git config --global --add safe.directory '*'\n\
                         g() {{ git \"$@\"; }}\n{script}\n"
                    ),
                },
            )
        };
        let log = self.root.path().join(format!("log.{recipe}"));
        self.executor.execute(&task, &log).map(|_| ())
    }

    fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![self.downloads.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(&self.downloads).unwrap().display().to_string();
                if rel.matches('/').count() < 2 {
                    out.push(rel);
                }
                if path.symlink_metadata().unwrap().is_dir() {
                    pending.push(path);
                }
            }
        }
        out.sort();
        out
    }
}

fn sha256(bytes: &[u8]) -> Expected {
    let mut hasher = Hasher::new();
    hasher.update(bytes);
    Expected { sha256: Some(hasher.finish().get(Algorithm::Sha256)), md5: None }
}

fn failure(result: Result<(), TaskFailure>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(()) => panic!("the task succeeded"),
    }
}

#[test]
fn only_the_recipes_verified_downloads_and_checked_clones_reach_dl_dir() {
    let f = Fixture::new();
    let tarball = ExpectedDownload {
        name: "a-1.0.tar.gz".into(),
        url: "https://example.invalid/a-1.0.tar.gz".into(),
        expected: sha256(b"a's sources\n"),
    };
    let admission = f.admission(vec![tarball.clone()], vec![f.clone()]);
    // As BitBake's fetcher leaves them: the file, its stamp and lock, a bare clone; and a
    // file planted for another recipe.
    let script = "printf \"a's sources\\n\" > $DL/a-1.0.tar.gz\ntouch $DL/a-1.0.tar.gz.done $DL/a-1.0.tar.gz.lock\n\
                  echo planted > $DL/zlib-1.3.tar.xz\nmkdir -p $DL/git2\n\
                  g clone -q --bare /upstream $DL/git2/example.invalid.upstream.git";
    f.fetch("a", script, admission.clone()).unwrap();
    assert_eq!(f.listing(), ["a-1.0.tar.gz", "git2", "git2/example.invalid.upstream.git"], "what reached DL_DIR");
    let clone = f.downloads.join("git2/example.invalid.upstream.git");
    assert_eq!(git(&clone, &["-c", "safe.directory=*", "cat-file", "-t", &f.revision]), "commit");
    assert!(!clone.join("hooks").exists(), "the clone's hooks were kept");

    // A recipe whose download does not match: the task fails, DL_DIR keeps its file.
    let err = failure(f.fetch("a", "rm $DL/a-1.0.tar.gz; echo forged > $DL/a-1.0.tar.gz", admission.clone()));
    assert!(err.contains("its download was refused") && err.contains("does not match the recipe's checksum"), "{err}");
    assert_eq!(std::fs::read(f.downloads.join("a-1.0.tar.gz")).unwrap(), b"a's sources\n");

    // Another recipe writing into this clone, and replacing an object of it.
    let other = f.admission(vec![], vec![]);
    let script = "touch $DL/git2/example.invalid.upstream.git/planted\n\
                  obj=$(find $DL/git2/example.invalid.upstream.git/objects -type f | head -n 1)\n\
                  rm -f $obj; echo forged > $obj";
    f.fetch("b", script, other).unwrap();
    assert!(!clone.join("planted").exists(), "another recipe's fetch wrote into the clone");
    assert_eq!(git(&clone, &["-c", "safe.directory=*", "fsck", "--no-progress"]), "");

    // The recipe itself forging an object of its clone: git fsck refuses it.
    let script = "c=$DL/git2/example.invalid.upstream.git\n\
                  for o in $(find $c/objects -type f); do chmod u+w $o; printf 'xxxx' | dd of=$o bs=1 seek=8 conv=notrunc 2>/dev/null; done";
    let err = failure(f.fetch("a", script, admission.clone()));
    assert!(err.contains("the clone git2/example.invalid.upstream.git was refused"), "{err}");
    assert!(err.contains("git fsck finds it damaged"), "{err}");
    assert_eq!(git(&clone, &["-c", "safe.directory=*", "fsck", "--no-progress"]), "", "DL_DIR's clone changed");

    // A clone without the recipe's revision, and one with a replace ref.
    let mut wrong = f.clone();
    wrong.revisions = vec!["0123456789abcdef0123456789abcdef01234567".into()];
    let err = failure(f.fetch(
        "a",
        "touch $DL/git2/example.invalid.upstream.git/FETCH_HEAD",
        f.admission(vec![], vec![wrong]),
    ));
    assert!(err.contains("it lacks the revision 0123456789abcdef0123456789abcdef01234567"), "{err}");
    let script = "c=$DL/git2/example.invalid.upstream.git\nmkdir -p $c/refs/replace\n\
                  echo $(g -C $c rev-parse HEAD) > $c/refs/replace/$(g -C $c rev-parse HEAD)";
    f.fetch("a", script, admission).unwrap();
    assert!(!clone.join("refs/replace").exists(), "a replace ref reached DL_DIR");
}
