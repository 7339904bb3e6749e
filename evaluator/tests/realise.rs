//! The realisation engine for real: a small graph of shell tasks run in the sandbox
//! against a real store. Substitution, no-op, hash-equivalence cut-off, failures with
//! and without keep-going, forced tasks, dry runs, and the tasks a node reads beyond its
//! dependencies.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rstore_evaluator::derivation::TaskId;
use rstore_evaluator::execute::{Action, Prepared, SandboxExecutor};
use rstore_evaluator::graph::NodeId;
use rstore_evaluator::realise::{
    self, BuildGraph, CacheSubstitutes, Input, NodeHashes, Options, Planner, PrepareError, Reporter, Resolution,
    Services, Substitutes, Summary,
};
use rstore_sandbox::CancelHandle;
use rstore_store::cache::dir::DirCache;
use rstore_store::cache::transfer::{Progress, PushItem, Substituters, push};
use rstore_store::cache::{Cache, Key, SecretKey, TrustedKeys};
use rstore_store::{Basehash, Digest, HostFingerprint, Store, Taskhash, TreeDigest};

/// One task of the test graph: its recipe, task name, script and dependencies.
#[derive(Clone)]
struct Task {
    recipe: &'static str,
    task: &'static str,
    script: String,
    deps: Vec<usize>,
    reads: Vec<usize>,
}

/// Plans tasks from [`Task`]s: a recipe's work directory is `/w/<recipe>`, other
/// recipes' outputs are mounted at `/deps/<recipe>`.
struct TestPlanner {
    tasks: Vec<Task>,
    logs: PathBuf,
    /// The inputs each prepared node was given.
    seen_inputs: Arc<Mutex<HashMap<usize, Vec<usize>>>>,
}

impl Planner for TestPlanner {
    fn prepare(
        &mut self,
        node: NodeId,
        outputs: &BTreeMap<NodeId, TreeDigest>,
        _hashes: &NodeHashes<'_>,
    ) -> Result<Prepared, PrepareError> {
        let t = &self.tasks[node];
        let mut keys: Vec<usize> = outputs.keys().copied().collect();
        keys.sort_unstable();
        self.seen_inputs.lock().unwrap().insert(node, keys.clone());
        let lowers: Vec<TreeDigest> =
            keys.iter().rev().filter(|&&d| self.tasks[d].recipe == t.recipe).map(|d| outputs[d]).collect();
        let inputs: Vec<(TreeDigest, PathBuf)> = keys
            .iter()
            .filter(|&&d| self.tasks[d].recipe != t.recipe)
            .map(|d| (outputs[d], PathBuf::from(format!("/deps/{}/{}", self.tasks[*d].recipe, self.tasks[*d].task))))
            .collect();
        let workdir = PathBuf::from(format!("/w/{}", t.recipe));
        Ok(Prepared {
            workdir: workdir.clone(),
            dirs: vec![workdir.clone()],
            cwd: workdir,
            lowers,
            inputs,
            parallelism: Some(1),
            ..Prepared::new(
                TaskId { recipe: t.recipe.into(), task: t.task.into() },
                Action::Shell { script: format!("set -e\n{}\n", t.script) },
            )
        })
    }

    fn log_path(&self, node: usize) -> PathBuf {
        self.logs.join(format!("log.{}.{}", self.tasks[node].recipe, self.tasks[node].task))
    }
}

struct Quiet;
impl Reporter for Quiet {}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Arc<Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let store = Arc::new(Store::open(root.join("store")).unwrap());
        std::fs::create_dir_all(root.join("scratch")).unwrap();
        Fixture { _dir: dir, root, store }
    }

    fn realise(&self, tasks: &[Task], targets: &[usize], options: Options) -> (Summary, HashMap<usize, Vec<usize>>) {
        self.realise_with(tasks, targets, options, None)
    }

    fn realise_with(
        &self,
        tasks: &[Task],
        targets: &[usize],
        options: Options,
        substitutes: Option<&dyn Substitutes>,
    ) -> (Summary, HashMap<usize, Vec<usize>>) {
        let mut graph = BuildGraph::new();
        for t in tasks {
            graph.add_node(realise::Task {
                id: TaskId { recipe: t.recipe.into(), task: t.task.into() },
                // The script is the whole derivation here.
                basehash: Basehash::from_digest(Digest::of_bytes(t.script.as_bytes())),
            });
        }
        for (i, t) in tasks.iter().enumerate() {
            for &d in &t.deps {
                graph.add_edge_with(i, d, Input::Dep);
            }
            for &r in &t.reads {
                graph.add_edge_with(i, r, Input::Reads);
            }
        }
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let mut planner =
            TestPlanner { tasks: tasks.to_vec(), logs: self.root.join("logs"), seen_inputs: seen.clone() };
        let cancel = CancelHandle::new().unwrap();
        let executor = SandboxExecutor {
            store: self.store.clone(),
            scratch: self.root.join("scratch"),
            rstore: PathBuf::from("/nonexistent/rstore"),
            cancel: cancel.clone(),
            limits: Default::default(),
        };
        let services = Services {
            outputs: &*self.store,
            substitutes,
            executor: Arc::new(executor),
            reporter: &Quiet,
            cancel: &cancel,
        };
        let summary = realise::realise(&graph, targets, &mut planner, &services, &options).unwrap();
        let seen = seen.lock().unwrap().clone();
        (summary, seen)
    }

    fn file(&self, summary: &Summary, node: usize, path: &str) -> String {
        let root = summary.tasks[node].root.expect("built");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.store.open_file(&root, path).unwrap(), &mut out).unwrap();
        out
    }
}

fn options() -> Options {
    Options {
        jobs: 2,
        host_fingerprint: Some(HostFingerprint::from_digest(Digest::of_bytes(b"test-host"))),
        ..Options::default()
    }
}

/// a:do_compile -> a:do_install -> b:do_build (reads a's installed file).
fn chain(text: &str, comment: &str) -> Vec<Task> {
    vec![
        Task {
            recipe: "a",
            task: "do_compile",
            script: format!("echo '{text}' > out.txt {comment}"),
            deps: vec![],
            reads: vec![],
        },
        Task {
            recipe: "a",
            task: "do_install",
            script: "mkdir -p image && cp out.txt image/out.txt".into(),
            deps: vec![0],
            reads: vec![],
        },
        Task {
            recipe: "b",
            task: "do_build",
            script: "cat /deps/a/do_install/image/out.txt /deps/a/do_install/image/out.txt > twice.txt".into(),
            deps: vec![1],
            reads: vec![],
        },
    ]
}

fn count(summary: &Summary, r: Resolution) -> usize {
    summary.tasks.iter().filter(|t| t.resolution == r).count()
}

#[test]
fn builds_then_substitutes_everything() {
    let f = Fixture::new();
    let (first, _) = f.realise(&chain("hello", ""), &[2], options());
    assert_eq!((first.run, first.failed, first.cutoff), (3, 0, 0), "{first:?}");
    assert_eq!(f.file(&first, 2, "twice.txt"), "hello\nhello\n");
    // The recipe's later task sees its earlier task's output below its work directory.
    assert_eq!(f.file(&first, 1, "out.txt"), "hello\n");

    let (again, seen) = f.realise(&chain("hello", ""), &[2], options());
    assert_eq!((again.run, again.available, again.cutoff), (0, 1, 0), "{again:?}");
    assert!(seen.is_empty(), "nothing may be prepared in a no-op realisation");
    assert_eq!(again.tasks[2].root, first.tasks[2].root);
    // Only the target was needed: what lies below an available task is not.
    assert_eq!(again.tasks[0].resolution, Resolution::NotNeeded);
}

#[test]
fn an_unchanged_output_cuts_off_everything_above() {
    let f = Fixture::new();
    let (first, _) = f.realise(&chain("hello", ""), &[2], options());
    assert_eq!(first.run, 3);

    // A comment changes a:do_compile's derivation, not its output.
    let (second, _) = f.realise(&chain("hello", "# a comment"), &[2], options());
    assert_eq!((second.run, second.cutoff, second.failed), (1, 2, 0), "{second:?}");
    assert_eq!(second.tasks[0].resolution, Resolution::Ran);
    assert_eq!(second.tasks[1].resolution, Resolution::CutOff);
    assert_eq!(second.tasks[2].resolution, Resolution::CutOff);
    // Hash equivalence: the new taskhash maps to the first build's unihash.
    assert_ne!(second.tasks[0].taskhash, first.tasks[0].taskhash);
    assert_eq!(second.tasks[0].unihash, first.tasks[0].unihash);
    assert_eq!(second.tasks[2].root, first.tasks[2].root);

    // A change of output runs everything above it.
    let (third, _) = f.realise(&chain("changed", ""), &[2], options());
    assert_eq!((third.run, third.cutoff), (3, 0), "{third:?}");
    assert_eq!(f.file(&third, 2, "twice.txt"), "changed\nchanged\n");
}

#[test]
fn a_failure_stores_nothing_and_keep_going_runs_the_rest() {
    let f = Fixture::new();
    let mut tasks = chain("hello", "");
    tasks[0].script = "echo 'compiler says no' >&2; exit 3".into();
    tasks.push(Task {
        recipe: "c",
        task: "do_build",
        script: "echo independent > c.txt".into(),
        deps: vec![],
        reads: vec![],
    });

    let keep_going = Options { keep_going: true, jobs: 1, ..options() };
    let (summary, _) = f.realise(&tasks, &[2, 3], keep_going);
    assert_eq!((summary.failed, summary.run), (1, 1), "{summary:?}");
    assert_eq!(summary.tasks[0].resolution, Resolution::Failed);
    assert_eq!(summary.tasks[1].resolution, Resolution::Skipped);
    assert_eq!(summary.tasks[2].resolution, Resolution::Skipped);
    assert_eq!(summary.tasks[3].resolution, Resolution::Ran);
    let failure = &summary.failures[0];
    assert_eq!(failure.task, "a:do_compile");
    assert!(failure.message.contains("exit status 3"), "{}", failure.message);
    assert!(failure.message.contains("compiler says no"), "the log's tail: {}", failure.message);
    let log = failure.log.as_deref().expect("a log path");
    assert!(std::fs::read_to_string(log).unwrap().contains("compiler says no"));
    // Nothing of the failed task entered the store.
    let th: Taskhash = summary.tasks[0].taskhash.unwrap();
    assert_eq!(f.store.lookup(&th).unwrap(), None);
    assert!(f.store.entry(&rstore_store::Unihash::from_taskhash(th)).unwrap().is_none());

    // Without keep-going, nothing new starts after the failure: with one worker,
    // a:do_compile goes first (most tasks wait for it) and c never starts.
    let g = Fixture::new();
    let stop = Options { keep_going: false, jobs: 1, ..options() };
    let (summary, _) = g.realise(&tasks, &[2, 3], stop);
    assert_eq!((summary.failed, summary.run), (1, 0), "{summary:?}");
    assert_eq!(count(&summary, Resolution::Skipped), 3, "{summary:?}");
}

#[test]
fn force_dry_run_and_reads() {
    let f = Fixture::new();
    let mut tasks = chain("hello", "");
    // b also reads a:do_compile's output (not part of its taskhash).
    tasks[2].reads = vec![0];
    tasks[2].script = "cat /deps/a/do_compile/out.txt > direct.txt".into();

    let dry = Options { dry_run: true, ..options() };
    let (plan, seen) = f.realise(&tasks, &[2], dry);
    assert_eq!(plan.would_run, vec!["a:do_compile", "a:do_install", "b:do_build"]);
    assert!(seen.is_empty());
    assert_eq!(plan.run, 0);

    let (built, seen) = f.realise(&tasks, &[2], options());
    assert_eq!(built.run, 3);
    assert_eq!(seen[&2], vec![0, 1], "b is given a:do_compile's output as well");
    assert_eq!(f.file(&built, 2, "direct.txt"), "hello\n");

    // Forcing the target runs it alone: what it needs is available.
    let force = Options { force: [2].into(), ..options() };
    let (forced, _) = f.realise(&tasks, &[2], force);
    assert_eq!(forced.run, 1, "{forced:?}");
    assert_eq!(forced.tasks[2].resolution, Resolution::Ran);
    assert_eq!(forced.tasks[2].root, built.tasks[2].root, "the same inputs give the same output");

    // A read task that is not in the store any more is rebuilt before b runs: here the
    // store is new, b is forced, and a's tasks must run first.
    let g = Fixture::new();
    let force = Options { force: [2].into(), ..options() };
    let (fresh, _) = g.realise(&tasks, &[2], force);
    assert_eq!(fresh.run, 3);
}

/// Every task of a realisation as a push item (its unihash and taskhash).
fn push_items(summary: &Summary) -> Vec<PushItem> {
    summary.tasks.iter().filter_map(|t| Some(PushItem { unihash: t.unihash?, taskhashes: vec![t.taskhash?] })).collect()
}

fn substituters(caches: Vec<Box<dyn Cache>>, key: &SecretKey) -> Substituters {
    let mut trusted = TrustedKeys::default();
    trusted.add(key.public());
    Substituters::new(caches, trusted)
}

/// Realise the chain in a fresh store with `subs` as binary caches.
fn realise_from(subs: &Substituters, tasks: &[Task]) -> (Fixture, Summary) {
    let f = Fixture::new();
    let progress = Progress::default();
    let caches = CacheSubstitutes::new(&f.store, subs, &progress);
    let (summary, _) = f.realise_with(tasks, &[2], options(), Some(&caches));
    (f, summary)
}

#[test]
fn substitutes_from_a_cache_and_builds_when_it_misbehaves() {
    let a = Fixture::new();
    let (first, _) = a.realise(&chain("hello", ""), &[2], options());
    let cache_dir = a.root.join("cache");
    let key = SecretKey::generate("test-1").unwrap();
    let report =
        push(&a.store, &DirCache::new(&cache_dir), &push_items(&first), Some(&key), &Progress::default()).unwrap();
    assert_eq!(report.entries, 3, "{report:?}");
    // Pushing again writes nothing.
    let again =
        push(&a.store, &DirCache::new(&cache_dir), &push_items(&first), Some(&key), &Progress::default()).unwrap();
    assert_eq!((again.entries, again.objects, again.entries_present), (0, 0, 3), "{again:?}");

    // A trusted cache: nothing runs, and only the target's output is fetched.
    let dir = || -> Vec<Box<dyn Cache>> { vec![Box::new(DirCache::new(&cache_dir))] };
    let (b, summary) = realise_from(&substituters(dir(), &key), &chain("hello", ""));
    assert_eq!((summary.run, summary.substituted, summary.available), (0, 1, 0), "{summary:?}");
    assert_eq!(summary.tasks[2].resolution, Resolution::Substituted);
    assert_eq!(b.file(&summary, 2, "twice.txt"), "hello\nhello\n");
    assert_eq!(summary.tasks[2].root, first.tasks[2].root);
    assert!(b.store.entry(&first.tasks[0].unihash.unwrap()).unwrap().is_none(), "a:do_compile was fetched");

    // Signed by a key nobody trusts: ignored, everything runs.
    let stranger = SecretKey::generate("test-1").unwrap();
    let (_, summary) = realise_from(&substituters(dir(), &stranger), &chain("hello", ""));
    assert_eq!((summary.run, summary.substituted), (3, 0), "{summary:?}");

    // A cache that is down: everything runs.
    let down: Vec<Box<dyn Cache>> =
        vec![Box::new(rstore_store::cache::http::HttpCache::new("http://127.0.0.1:9", None).unwrap())];
    let (_, summary) = realise_from(&substituters(down, &key), &chain("hello", ""));
    assert_eq!((summary.run, summary.substituted, summary.failed), (3, 0, 0), "{summary:?}");

    // A blob whose bytes do not match its name: b:do_build's output is refused (nothing
    // of it enters the store) and it runs, from a:do_install's output, substituted.
    let (digest, _) = rstore_store::cache::conformance::raw_blob(b"hello\nhello\n");
    let (_, forged) = rstore_store::cache::conformance::raw_blob(b"HELLO\nHELLO\n");
    let blob = cache_dir.join(Key::Object(rstore_store::ObjectKind::Blob, digest).path());
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, forged).unwrap();
    let (d, summary) = realise_from(&substituters(dir(), &key), &chain("hello", ""));
    assert_eq!((summary.run, summary.substituted, summary.failed), (1, 1, 0), "{summary:?}");
    assert_eq!(summary.tasks[2].resolution, Resolution::Ran);
    assert_eq!(d.file(&summary, 2, "twice.txt"), "hello\nhello\n");
    let verified = d.store.verify(&Default::default(), &rstore_store::NoReporter).unwrap();
    assert!(verified.problems.is_empty(), "{verified:?}");
}

#[test]
fn a_cache_s_equivalence_records_spare_the_dependents() {
    let a = Fixture::new();
    let (first, _) = a.realise(&chain("hello", ""), &[2], options());
    // A comment: a:do_compile runs again, its output is the same, the rest is cut off.
    let (second, _) = a.realise(&chain("hello", "# a comment"), &[2], options());
    assert_eq!((second.run, second.cutoff), (1, 2), "{second:?}");
    let cache_dir = a.root.join("cache");
    let key = SecretKey::generate("test-1").unwrap();
    let cache = DirCache::new(&cache_dir);
    push(&a.store, &cache, &push_items(&first), Some(&key), &Progress::default()).unwrap();
    let report = push(&a.store, &cache, &push_items(&second), Some(&key), &Progress::default()).unwrap();
    assert_eq!(report.equivalences, 1, "{report:?}");

    // Another store builds the changed chain: the cache's equivalence record gives
    // a:do_compile's new taskhash the old unihash, so nothing runs at all.
    let dir: Vec<Box<dyn Cache>> = vec![Box::new(DirCache::new(&cache_dir))];
    let (b, summary) = realise_from(&substituters(dir, &key), &chain("hello", "# a comment"));
    assert_eq!((summary.run, summary.substituted), (0, 1), "{summary:?}");
    let changed = second.tasks[0].taskhash.unwrap();
    assert_eq!(b.store.lookup(&changed).unwrap(), first.tasks[0].unihash, "the equivalence was not recorded");

    // A cache with only the first build (no equivalence record): everything runs.
    let unsigned = a.root.join("unsigned");
    push(&a.store, &DirCache::new(&unsigned), &push_items(&first), Some(&key), &Progress::default()).unwrap();
    let dir: Vec<Box<dyn Cache>> = vec![Box::new(DirCache::new(&unsigned))];
    let (_, summary) = realise_from(&substituters(dir, &key), &chain("hello", "# a comment"));
    assert_eq!(summary.run, 3, "{summary:?}");
}

/// How [`misbehaving_cache`] answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Every request: 500.
    Fails,
    /// Blobs: the full length announced, half the body sent, the connection closed.
    CutsBlobsShort,
}

/// A web server for the cache directory `root` that misbehaves as told (one request per
/// connection); its URL.
fn misbehaving_cache(root: PathBuf, how: Misbehaviour) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).map(|n| n == 0).unwrap_or(true) || line == "\r\n" {
                    break;
                }
            }
            let mut parts = first.split(' ');
            let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let file = root.join(path.trim_start_matches('/'));
            let body = std::fs::read(&file).ok();
            let head = method == "HEAD";
            let _ = match (how, body) {
                (Misbehaviour::Fails, _) => stream
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                (_, None) => {
                    stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
                (Misbehaviour::CutsBlobsShort, Some(body)) => {
                    let cut = path.contains("/objects/blobs/") && !head;
                    let sent = if cut { &body[..body.len() / 2] } else { &body[..] };
                    let header =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    stream.write_all(header.as_bytes()).and_then(|_| if head { Ok(()) } else { stream.write_all(sent) })
                }
            };
        }
    });
    url
}

#[test]
fn a_cache_that_fails_or_cuts_bodies_short_costs_a_build_not_a_wrong_output() {
    let a = Fixture::new();
    let (first, _) = a.realise(&chain("hello", ""), &[2], options());
    let key = SecretKey::generate("test-1").unwrap();
    push(&a.store, &DirCache::new(a.root.join("served/cache")), &push_items(&first), Some(&key), &Progress::default())
        .unwrap();
    for how in [Misbehaviour::Fails, Misbehaviour::CutsBlobsShort] {
        let url = format!("{}/cache", misbehaving_cache(a.root.join("served"), how));
        let http: Vec<Box<dyn Cache>> = vec![Box::new(rstore_store::cache::http::HttpCache::new(&url, None).unwrap())];
        let (b, summary) = realise_from(&substituters(http, &key), &chain("hello", ""));
        assert_eq!((summary.run, summary.substituted, summary.failed), (3, 0, 0), "{summary:?}");
        assert_eq!(b.file(&summary, 2, "twice.txt"), "hello\nhello\n");
        assert_eq!(summary.tasks[2].root, first.tasks[2].root);
        let verified = b.store.verify(&Default::default(), &rstore_store::NoReporter).unwrap();
        assert!(verified.problems.is_empty(), "{verified:?}");
    }
}
