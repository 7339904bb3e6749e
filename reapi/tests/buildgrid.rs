//! The cache conformance tests against BuildGrid (`scripts/fetch-buildgrid` installs it
//! and `scripts/test` names its `bgd` in `RSTORE_BUILDGRID`), its CAS in PostgreSQL and
//! its ActionCache in Redis (Debian's, from `scripts/install-deps`): the test starts a
//! throwaway PostgreSQL cluster, a Redis and BuildGrid on loopback. BuildGrid 0.4 has
//! no ActionCache in SQL; Redis keeps it while BuildGrid restarts.

mod servers;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rstore_reapi::{DigestFunction, ReapiCache};
use rstore_store::ObjectKind;
use rstore_store::cache::{Cache, Key, conformance};
use servers::{Daemon, free_port};

/// The server's configuration: instance "", blobs in PostgreSQL, ActionCache in Redis.
/// BuildGrid serves as many requests at once as it has threads (by default 5 per
/// core) and refuses the others (`RESOURCE_EXHAUSTED`); a small pool here proves the
/// client waits and tries again rather than failing.
const CONFIG: &str = r#"
thread-pool-size: 5
server:
  - !channel
    address: "127.0.0.1:@BGD_PORT@"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: @DATABASE@
  - !redis-connection &redis
    host: 127.0.0.1
    port: @REDIS_PORT@
storages:
  - !sql-storage &cas
    sql: *sql
caches:
  - !redis-action-cache &ac
    storage: *cas
    redis: *redis
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"#;

/// A PostgreSQL cluster of its own, stopped when dropped.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
}

impl Postgres {
    /// Creates a cluster in `dir` and starts it on `port` of 127.0.0.1 (and a socket
    /// in `dir`), as user `postgres` when the test runs as root (PostgreSQL refuses
    /// root).
    fn start(dir: &Path, port: u16) -> Postgres {
        let bin = postgres_bin();
        let data = dir.join("pg");
        if is_root() {
            run(Command::new("chown").arg("postgres:").arg(dir));
        }
        run(as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-locale", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data));
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={}", dir.display());
        run(as_postgres(&bin.join("pg_ctl"))
            .args(["start", "-w", "-o", &options, "-l"])
            .arg(dir.join("postgres.log"))
            .arg("-D")
            .arg(&data));
        Postgres { bin, data }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/VERSION/bin` (Debian's layout).
fn postgres_bin() -> PathBuf {
    let versions =
        std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is not installed (scripts/install-deps)");
    let newest = versions.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).max();
    PathBuf::from(format!("/usr/lib/postgresql/{}/bin", newest.expect("no /usr/lib/postgresql/VERSION")))
}

fn is_root() -> bool {
    // /proc/self belongs to the effective user.
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs `command` to its end; a failure fails the test, with the command's output.
fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// BuildGrid and its databases; `bgd` alone can be restarted.
struct BuildGrid {
    // Dropped in this order: BuildGrid, then its databases, then their directory.
    bgd: Option<Daemon>,
    _redis: Daemon,
    _postgres: Postgres,
    dir: tempfile::TempDir,
    program: PathBuf,
    port: u16,
}

impl BuildGrid {
    fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// Stops `bgd` and starts it again on the same configuration and databases.
    fn restart(&mut self) {
        self.bgd = None;
        self.bgd = Some(start_bgd(&self.program, self.dir.path(), self.port));
    }
}

fn start_bgd(program: &Path, dir: &Path, port: u16) -> Daemon {
    let mut command = Command::new(program);
    command.args(["server", "start"]).arg(dir.join("buildgrid.yml"));
    Daemon::start("BuildGrid", &mut command, port, &dir.join("buildgrid.log"))
}

fn buildgrid() -> Option<BuildGrid> {
    let Some(program) = std::env::var_os("RSTORE_BUILDGRID").filter(|p| !p.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED: REAPI tests against BuildGrid (RSTORE_BUILDGRID is not set; scripts/test sets it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (pg_port, redis_port, port) = (free_port(), free_port(), free_port());

    let postgres = Postgres::start(dir.path(), pg_port);
    run(Command::new(postgres.bin.join("createdb")).args([
        "-h",
        "127.0.0.1",
        "-p",
        &pg_port.to_string(),
        "-U",
        "postgres",
        "buildgrid",
    ]));
    let database = format!("postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/buildgrid");
    run(Command::new(&program).args(["migrate", "apply", &database]));

    let mut command = Command::new("redis-server");
    command.args(["--bind", "127.0.0.1", "--port", &redis_port.to_string(), "--save", "", "--appendonly", "no"]);
    command.arg("--dir").arg(dir.path());
    let redis = Daemon::start("Redis", &mut command, redis_port, &dir.path().join("redis.log"));

    let config = CONFIG
        .replace("@BGD_PORT@", &port.to_string())
        .replace("@DATABASE@", &database)
        .replace("@REDIS_PORT@", &redis_port.to_string());
    std::fs::write(dir.path().join("buildgrid.yml"), config).unwrap();
    let bgd = start_bgd(&program, dir.path(), port);
    Some(BuildGrid { bgd: Some(bgd), _redis: redis, _postgres: postgres, dir, program, port })
}

#[test]
fn conformance_against_buildgrid() {
    let Some(server) = buildgrid() else { return };
    // BuildGrid offers SHA-256 only.
    servers::conformance_with_large_blobs(&server.url(), DigestFunction::Sha256);
}

#[test]
fn values_outlive_a_buildgrid_restart() {
    let Some(mut server) = buildgrid() else { return };
    let s = conformance::sample("restart");
    let entry = Key::Entry(s.entry.unihash);
    let blob = Key::Object(ObjectKind::Blob, s.blob.0);
    conformance::push(&ReapiCache::connect(&server.url()).unwrap(), &s);

    server.restart();
    let cache = ReapiCache::connect(&server.url()).unwrap();
    assert_eq!(cache.get(&entry).unwrap(), Some(s.entry.encode()));
    assert_eq!(cache.get(&blob).unwrap(), Some(s.blob.1));
}
