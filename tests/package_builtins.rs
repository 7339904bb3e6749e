//! The staging, packaging, image and license built-ins end to end: requests built by
//! the importer from the bundled layers, run as `rstore __builtin` inside the task
//! sandbox, results checked with the real `dpkg-deb`, `dpkg` and `tar`; control files
//! compared with what BitBake's package_deb.bbclass wrote for the same recipes; the
//! image's `do_image` shell task run twice on differently materialised copies of the
//! root file system, giving the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_importer::builtins::{self, BuildContext, Recipes};
use rstore_importer::datastore::{DataStore, Read};
use rstore_importer::runfile::{DL_DIR_INSIDE, TMPDIR_INSIDE, run_file};
use rstore_importer::session::{Options, Session};
use rstore_importer::value::Value;
use rstore_sandbox::{CancelHandle, Mount, Request, Sink, WorkDir};

fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
}

/// Run `f` on a thread with a large stack (metadata nests deeply).
fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(64 << 20).spawn(f).unwrap().join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A build directory for the bundled layers, made as `rstore init` makes one.
fn build_dir(tmp: &Path) -> PathBuf {
    let layers = repo_root().join("layers");
    let templates = layers.join("meta-core/conf/templates/default");
    let dir = tmp.join("build");
    fs::create_dir_all(dir.join("conf")).unwrap();
    let bblayers = fs::read_to_string(templates.join("bblayers.conf.sample")).unwrap();
    fs::write(dir.join("conf/bblayers.conf"), bblayers.replace("##LAYERSDIR##", &layers.display().to_string()))
        .unwrap();
    fs::copy(templates.join("local.conf.sample"), dir.join("conf/local.conf")).unwrap();
    dir
}

/// A recipe's datastore as the engine prepares it for the sandbox.
fn recipe(session: &Session, pn: &str) -> Rc<DataStore> {
    let (file, variant) = session.find_recipe(pn).unwrap_or_else(|| panic!("{pn} is a recipe"));
    let (variants, _, _) = session.parse_file(&file).unwrap();
    let v = variants.into_iter().find(|v| v.name == variant).unwrap();
    let d = v.data.create_copy();
    d.set_var("TMPDIR", Value::str(TMPDIR_INSIDE), false, None, "set").unwrap();
    d.set_var("DL_DIR", Value::str(DL_DIR_INSIDE), false, None, "set").unwrap();
    d
}

fn get(d: &Rc<DataStore>, var: &str) -> String {
    d.get_str(var).unwrap().unwrap_or_default()
}

fn flag(d: &Rc<DataStore>, var: &str, name: &str) -> String {
    d.get_var_flag(var, name, Read::EXPANDED).unwrap().map(|v| v.to_string()).unwrap_or_default()
}

fn request(name: &str, d: &Rc<DataStore>, ctx: &BuildContext) -> BuiltinRequest {
    builtins::request(name, d, ctx).unwrap_or_else(|e| panic!("the {name} request: {e}"))
}

/// Control files package_deb.bbclass (with `dpkg-deb`) wrote under BitBake 2.19 for
/// the bundled layers: (recipe, package, Installed-Size, control file).
const BITBAKE_CONTROLS: [(&str, &str, u64, &str); 5] = [
    (
        "hello",
        "hello",
        745,
        "Package: hello\nVersion: 1.0-r0\nArchitecture: amd64\nMaintainer: rstore distribution <distro@rstore.invalid>\n\
         Installed-Size: 745\nSection: examples\nPriority: optional\nSource: hello\n\
         Description: Hello world, built from a source file kept in the layer\n \
         The example program of rstore's meta-demo layer: one C file fetched with\n \
         file://, compiled with the host compiler and packaged.\n",
    ),
    (
        "zlib",
        "zlib-dev",
        114,
        "Package: zlib-dev\nVersion: 1.3.1-r0\nArchitecture: amd64\nMaintainer: rstore distribution <distro@rstore.invalid>\n\
         Installed-Size: 114\nDepends: zlib (= 1.3.1-r0)\nSection: libs\nPriority: optional\nHomepage: https://zlib.net/\n\
         Source: zlib\nDescription: Zlib compression library\n \
         zlib is a general-purpose lossless data compression library implementing the\n \
         deflate format and the zlib and gzip wrappers (RFC 1950, 1951 and 1952).\n",
    ),
    (
        "busybox",
        "busybox",
        1509,
        "Package: busybox\nVersion: 1.37.0-r0\nArchitecture: amd64\nMaintainer: rstore distribution <distro@rstore.invalid>\n\
         Installed-Size: 1509\nSection: base\nPriority: optional\nHomepage: https://www.busybox.net/\nSource: busybox\n\
         Description: Tiny versions of many common UNIX utilities in a single executable\n \
         BusyBox combines tiny versions of many common UNIX utilities into a single\n \
         small executable: a shell, core file and text tools, archivers, init and basic\n \
         networking.\n",
    ),
    (
        "packagegroup-rstore-base",
        "packagegroup-rstore-base",
        0,
        "Package: packagegroup-rstore-base\nVersion: 1.0-r0\nArchitecture: all\n\
         Maintainer: rstore distribution <distro@rstore.invalid>\nInstalled-Size: 0\n\
         Depends: busybox, libbz2, liblzma, libzstd, zlib\nSection: base\nPriority: optional\n\
         Source: packagegroup-rstore-base\nDescription: The base of an rstore system\n \
         BusyBox (shell and core utilities) and the compression libraries (zlib,\n \
         libbz2, liblzma, libzstd).\n",
    ),
    (
        "nativesdk-zlib",
        "nativesdk-zlib",
        108,
        "Package: nativesdk-zlib\nVersion: 1.3.1-r0\nArchitecture: amd64\n\
         Maintainer: rstore distribution <distro@rstore.invalid>\nInstalled-Size: 108\nSection: libs\n\
         Priority: optional\nHomepage: https://zlib.net/\nSource: zlib\nDescription: Zlib compression library\n \
         zlib is a general-purpose lossless data compression library implementing the\n \
         deflate format and the zlib and gzip wrappers (RFC 1950, 1951 and 1952).\n",
    ),
];

/// One session (the embedded interpreter belongs to one thread) for both checks.
#[test]
fn packaging_built_ins_end_to_end() {
    big_stack(|| {
        let tmp = tempfile::tempdir().unwrap();
        let session = Session::open(&build_dir(tmp.path()), &Options::default()).unwrap();
        control_files_are_the_ones_bitbake_writes(&session);
        hello_from_installed_files_to_a_reproducible_image(&session, tmp.path());
    });
}

fn control_files_are_the_ones_bitbake_writes(session: &Session) {
    {
        for (pn, package, size, want) in BITBAKE_CONTROLS {
            let d = recipe(session, pn);
            let BuiltinRequest::PackageDeb(req) = request("package-deb", &d, &BuildContext::default()) else {
                panic!("a package-deb request")
            };
            let p = req.packages.iter().find(|p| p.control.package == package).expect("the package is in PACKAGES");
            assert_eq!(p.control.render(size), want, "{package}");
            assert_eq!(p.file_name, format!("{package}_{}_{}.deb", p.control.version, p.control.architecture));
            let arch = if pn.starts_with("nativesdk-") { "x86_64-nativesdk" } else { &get(&d, "PACKAGE_ARCH") };
            assert!(req.deploy_dir.ends_with(format!("deploy-debs/{arch}")), "{}", req.deploy_dir.display());
        }
    }
}

/// Runs built-ins and shell scripts in the task sandbox, the way the engine does.
struct Sandbox {
    tmp: PathBuf,
    cancel: CancelHandle,
    runs: usize,
}

/// A host directory and where it appears inside, writable or not.
type Bind<'a> = (&'a Path, &'a Path, bool);

impl Sandbox {
    /// Run `program args` with `files` in `/rstore/run`; the log, or the log as the
    /// error when the command failed.
    fn run(
        &mut self,
        program: &str,
        args: &[&str],
        files: &[(&str, &[u8])],
        mounts: &[Bind<'_>],
        cwd: &Path,
    ) -> Result<String, String> {
        self.runs += 1;
        let run_dir = self.tmp.join(format!("run{}", self.runs));
        fs::create_dir_all(&run_dir).unwrap();
        for (name, bytes) in files {
            fs::write(run_dir.join(name), bytes).unwrap();
        }
        let log = self.tmp.join(format!("log{}", self.runs));
        let mut req = Request::new(program, args.iter().copied()).with_host_tools();
        req.work_dir = WorkDir::Tmpfs;
        req.cwd = Some(cwd.to_path_buf());
        req.source_date_epoch = Some(1577836800);
        req.stdout = Sink::File(log.clone());
        req.stderr = Sink::File(log.clone());
        req.mounts.push(Mount::ReadOnly { host: run_dir, inside: "/rstore/run".into() });
        req.mounts.push(Mount::ReadOnly {
            host: PathBuf::from(env!("CARGO_BIN_EXE_rstore")),
            inside: "/rstore/bin/rstore".into(),
        });
        for (host, inside, writable) in mounts {
            let (host, inside) = (host.to_path_buf(), inside.to_path_buf());
            req.mounts.push(if *writable {
                Mount::Writable { host, inside }
            } else {
                Mount::ReadOnly { host, inside }
            });
        }
        let outcome = rstore_sandbox::run(&req, &self.cancel).expect("the sandbox starts");
        let text = fs::read_to_string(&log).unwrap_or_default();
        if outcome.success() { Ok(text) } else { Err(text) }
    }

    /// Run a built-in as the engine does: `rstore __builtin /rstore/run/request.json`.
    fn builtin(&mut self, req: &BuiltinRequest, mounts: &[Bind<'_>], cwd: &Path) -> Result<String, String> {
        let json = serde_json::to_vec(req).unwrap();
        let binds = req.binds();
        let mut all: Vec<Bind<'_>> = mounts.to_vec();
        all.extend(binds.iter().map(|b| (b.host.as_path(), b.inside.as_path(), b.writable)));
        self.run(
            "/rstore/bin/rstore",
            &["__builtin", "/rstore/run/request.json"],
            &[("request.json", &json)],
            &all,
            cwd,
        )
    }
}

/// The last of a task's `[dirs]`: its current directory.
fn task_cwd(d: &Rc<DataStore>, task: &str) -> PathBuf {
    PathBuf::from(flag(d, task, "dirs").split_whitespace().last().expect("the task has [dirs]"))
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).env("LC_ALL", "C").output().expect("the tool runs");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory of links to the host tools HOSTTOOLS names, as the engine provides
/// for `${HOSTTOOLS_DIR}`.
fn host_tools(d: &Rc<DataStore>, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let tools = format!("{} {}", get(d, "HOSTTOOLS"), get(d, "HOSTTOOLS_NONFATAL"));
    for tool in tools.split_whitespace() {
        let found =
            ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].iter().map(|p| Path::new(p).join(tool)).find(|p| p.exists());
        if let Some(found) = found {
            // The file itself: a link through /etc/alternatives would not resolve inside.
            std::os::unix::fs::symlink(fs::canonicalize(found).unwrap(), dir.join(tool)).unwrap();
        }
    }
}

fn hello_from_installed_files_to_a_reproducible_image(session: &Session, tmp: &Path) {
    {
        let mut sandbox = Sandbox { tmp: tmp.join("sandbox"), cancel: CancelHandle::new().unwrap(), runs: 0 };

        // What do_unpack and do_install leave for hello: its source and its program.
        let hello = recipe(session, "hello");
        let hello_workdir = PathBuf::from(get(&hello, "WORKDIR"));
        let hello_host = tmp.join("hello-work");
        let source = repo_root().join("layers/meta-demo/recipes-demo/hello/hello/hello.c");
        fs::create_dir_all(hello_host.join("sources")).unwrap();
        fs::copy(&source, hello_host.join("sources/hello.c")).unwrap();
        fs::create_dir_all(hello_host.join("image/usr/bin")).unwrap();
        tool("gcc", &["-O2", "-o", s(&hello_host.join("image/usr/bin/hello")), s(&source)]);

        let mounts: [Bind<'_>; 1] = [(&hello_host, &hello_workdir, true)];
        for (task, name) in
            [("do_populate_lic", "populate-lic"), ("do_package", "package"), ("do_package_write_deb", "package-deb")]
        {
            assert_eq!(flag(&hello, task, "rstore-builtin"), name, "{task} is a built-in");
            let req = request(name, &hello, &BuildContext::default());
            let log =
                sandbox.builtin(&req, &mounts, &task_cwd(&hello, task)).unwrap_or_else(|log| panic!("{task}:\n{log}"));
            if task == "do_package_write_deb" {
                assert!(log.contains("Not writing hello-dev: it is empty"), "{log}");
            }
        }
        let lines = fs::read_to_string(hello_host.join("license-destdir/hello/hello.c.lines-4-23")).unwrap();
        assert!(lines.contains("Permission is hereby granted"), "{lines}");
        let deb = hello_host.join("deploy-debs/x86_64/hello_1.0-r0_amd64.deb");
        let ours = tool("dpkg-deb", &["--field", s(&deb)]);
        let bitbake = BITBAKE_CONTROLS[0].3;
        let without_size =
            |t: &str| t.lines().filter(|l| !l.starts_with("Installed-Size:")).collect::<Vec<_>>().join("\n");
        assert_eq!(without_size(&ours), without_size(bitbake));
        let listing = tool("dpkg-deb", &["--contents", s(&deb)]);
        assert!(
            listing.ends_with("2020-01-01 00:00 ./usr/bin/hello\n") && listing.contains("-rwxr-xr-x root/root"),
            "{listing}"
        );
        assert_eq!(fs::read_dir(hello_host.join("deploy-debs/x86_64")).unwrap().count(), 1, "only hello has files");

        // The image, installing hello only, with zstd-native staged for do_image.
        let image = recipe(session, "rstore-image-minimal");
        image.set_var("IMAGE_INSTALL", Value::str("hello"), false, None, "set").unwrap();
        let image_workdir = PathBuf::from(get(&image, "WORKDIR"));
        let image_host = tmp.join("image-work");
        fs::create_dir_all(&image_host).unwrap();
        let zstd = recipe(session, "zstd-native");
        let staged = zstd.expand("${SYSROOT_DESTDIR}${SYSROOT_PREFIX}", None).unwrap();
        let staged = Path::new(&staged).strip_prefix(get(&zstd, "WORKDIR")).unwrap().to_path_buf();
        let zstd_host = tmp.join("zstd-native-out");
        fs::create_dir_all(zstd_host.join(&staged).join("usr/bin")).unwrap();
        fs::copy("/usr/bin/zstd", zstd_host.join(&staged).join("usr/bin/zstd")).unwrap();

        let zstd_inside = PathBuf::from("/rstore/deps/zstd-native/do_populate_sysroot");
        let hello_inside = PathBuf::from("/rstore/deps/hello/do_package_write_deb");
        let ctx = BuildContext {
            deps: BTreeMap::from([
                (("hello".to_owned(), "do_package_write_deb".to_owned()), hello_inside.clone()),
                (("zstd-native".to_owned(), "do_populate_sysroot".to_owned()), zstd_inside.clone()),
            ]),
            downloads: PathBuf::new(),
            recipes: Recipes(BTreeMap::from([
                ("hello".to_owned(), hello.clone()),
                ("zstd-native".to_owned(), zstd.clone()),
            ])),
        };
        let mounts: [Bind<'_>; 3] = [
            (&image_host, &image_workdir, true),
            (&zstd_host, &zstd_inside, false),
            (&hello_host, &hello_inside, false),
        ];
        for (task, name) in [("do_prepare_recipe_sysroot", "prepare-sysroot"), ("do_rootfs", "rootfs")] {
            assert_eq!(flag(&image, task, "rstore-builtin"), name, "{task} is a built-in");
            let req = request(name, &image, &ctx);
            let cwd = if task == "do_rootfs" { task_cwd(&image, task) } else { image_workdir.clone() };
            sandbox.builtin(&req, &mounts, &cwd).unwrap_or_else(|log| panic!("{task}:\n{log}"));
        }
        assert!(image_host.join("recipe-sysroot-native/usr/bin/zstd").is_file(), "zstd-native is staged");
        assert_eq!(
            fs::read_to_string(image_host.join("deploy-image/rstore-image-minimal-host-x86-64.manifest")).unwrap(),
            "hello amd64 1.0-r0\n"
        );
        let rootfs = image_host.join("rootfs");
        let root_arg = format!("--root={}", rootfs.display());
        let list = tool("dpkg", &[&root_arg, "--force-not-root", "-l"]);
        assert!(list.lines().any(|l| l.starts_with("ii  hello ")), "{list}");
        assert_eq!(
            tool(s(&rootfs.join("usr/bin/hello")), &["rstore"]),
            "Hello, rstore! (built by rstore from meta-demo)\n"
        );

        // do_image, as the engine runs shell tasks, on two copies of the same tree
        // materialised differently (older times, identical files hard-linked).
        let tools = tmp.join("hosttools");
        host_tools(&image, &tools);
        let dirs: Vec<String> = flag(&image, "do_image", "dirs").split_whitespace().map(str::to_owned).collect();
        let cwd = dirs.last().unwrap().clone();
        // The engine creates a task's [dirs] and runs the script in the last one.
        let script = run_file(&image, "do_image").unwrap().script;
        let hosttools_inside = PathBuf::from(format!("{TMPDIR_INSIDE}/hosttools"));
        let mut images = Vec::new();
        for round in 0..2 {
            let copy = tmp.join(format!("image-copy{round}"));
            tool("cp", &["-a", s(&image_host), s(&copy)]);
            if round == 1 {
                tool("find", &[s(&copy.join("rootfs")), "-exec", "touch", "-h", "-d", "2001-02-03", "{}", "+"]);
                let dpkg_dir = copy.join("rootfs/var/lib/dpkg");
                tool("ln", &["-f", s(&dpkg_dir.join("available")), s(&dpkg_dir.join("diversions"))]);
            }
            for dir in &dirs {
                fs::create_dir_all(copy.join(Path::new(dir).strip_prefix(&image_workdir).unwrap())).unwrap();
            }
            let mounts: [Bind<'_>; 2] = [(&copy, &image_workdir, true), (&tools, &hosttools_inside, false)];
            sandbox
                .run(
                    "/bin/sh",
                    &["/rstore/run/script.sh"],
                    &[("script.sh", script.as_bytes())],
                    &mounts,
                    Path::new(&cwd),
                )
                .unwrap_or_else(|log| panic!("do_image:\n{log}"));
            let out = copy.join("deploy-image/rstore-image-minimal-host-x86-64.rootfs.tar.zst");
            images.push((fs::read(&out).unwrap(), out));
        }
        assert!(images[0].0 == images[1].0, "do_image gives the same bytes for the same files");
        let listing = tool("tar", &["--zstd", "-tvf", s(&images[0].1)]);
        let hello_line =
            listing.lines().find(|l| l.ends_with(" ./usr/bin/hello")).unwrap_or_else(|| panic!("{listing}"));
        assert!(hello_line.starts_with("-rwxr-xr-x 0/0") && hello_line.contains("2020-01-01 00:00"), "{hello_line}");
        assert!(listing.lines().any(|l| l.ends_with(" ./var/lib/dpkg/status")), "{listing}");
        assert!(listing.lines().all(|l| !l.starts_with('h')), "no hard links in the image:\n{listing}");
    }
}
