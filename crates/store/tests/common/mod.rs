//! Databases for the store tests: a SQLite file in a temporary directory, or a database on a
//! throwaway PostgreSQL server that this test binary starts once (initdb + pg_ctl on a free
//! loopback port) and that a watchdog stops when the test process exits.
//!
//! PostgreSQL refuses to run as root; as root the server runs as the `postgres` user (which
//! Debian's postgresql package creates) through `runuser`. Missing binaries fail the test: the
//! suite must not pass without having exercised PostgreSQL.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tempfile::TempDir;

pub struct Db {
    pub url: String,
    _dir: Option<TempDir>,
}

impl Db {
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/gatehouse.db?mode=rwc", dir.path().display());
        Db {
            url,
            _dir: Some(dir),
        }
    }

    /// A fresh database on the shared test server.
    pub async fn postgres() -> Db {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server = server();
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&server.url("postgres"))
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        Db {
            url: server.url(&name),
            _dir: None,
        }
    }
}

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    /// `postgres -o` options (listen address, port, socket directory, durability).
    options: String,
}

impl PgServer {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A server of its own, for a test that stops it or needs settings: `files` are written
    /// into the data directory (owned by the server's user, mode 0600), `conf` is appended to
    /// its postgresql.conf. Commits are durable (synchronous_commit on), so stopping it with
    /// `-m immediate` loses nothing that was acknowledged.
    pub fn dedicated(conf: &str, files: &[(&str, &[u8])]) -> PgServer {
        start_server(conf, files, "")
    }

    /// `pg_ctl stop -m immediate`: every connection drops at once, as in a crash.
    pub fn stop(&self) {
        let mut stop = pg_command(&pg_bin_dir().join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop);
    }

    /// Starts it again on the same port.
    pub fn start(&self) {
        let out = self.start_command().output().unwrap();
        assert!(
            out.status.success(),
            "cannot restart the test PostgreSQL server: {}",
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    /// A fresh database on this server.
    pub async fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "d_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        self.url(&name)
    }

    fn start_command(&self) -> Command {
        let mut start = pg_command(&pg_bin_dir().join("pg_ctl"));
        start
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "-o", &self.options])
            .arg("start")
            .stdin(Stdio::null());
        start
    }
}

fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        start_server(
            "",
            &[],
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        )
    })
}

/// The directory holding initdb and pg_ctl: `GATEHOUSE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else wherever `pg_ctl` is on PATH.
pub fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GATEHOUSE_PG_BIN") {
        return dir.into();
    }
    let has_both = |d: &Path| d.join("initdb").exists() && d.join("pg_ctl").exists();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return d;
    }
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_both(&d) {
            return d;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (scripts/setup-env \
         does: apt-get install postgresql) or set GATEHOUSE_PG_BIN to their directory"
    );
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")) == "0"
}

/// `program args...`, as the `postgres` user when we are root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_server(conf: &str, files: &[(&str, &[u8])], durability: &str) -> PgServer {
    let bin = pg_bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let owner = if is_root() {
        let uid = output(Command::new("id").args(["-u", "postgres"]));
        assert!(
            !uid.is_empty(),
            "running as root, PostgreSQL must run as the 'postgres' user, which does not exist \
             (apt-get install postgresql creates it)"
        );
        let gid = output(Command::new("id").args(["-g", "postgres"]));
        let owner = (uid.parse().ok(), gid.parse().ok());
        std::os::unix::fs::chown(&dir, owner.0, owner.1).unwrap();
        Some(owner)
    } else {
        None
    };
    let data = dir.join("data");
    let mut initdb = pg_command(&bin.join("initdb"));
    initdb
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data);
    run(initdb);
    for (name, content) in files {
        use std::os::unix::fs::PermissionsExt;
        let path = data.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, uid, gid).unwrap();
        }
    }
    if !conf.is_empty() {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        writeln!(f, "\n{conf}").unwrap();
    }
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PgServer {
            port,
            options: format!("-h 127.0.0.1 -p {port} -k {} {durability}", dir.display()),
            dir: dir.clone(),
        };
        let out = server.start_command().output().unwrap();
        if out.status.success() {
            spawn_watchdog(&bin, &dir, &data);
            return server;
        }
        last_error = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    }
    panic!("cannot start the test PostgreSQL server: {last_error}");
}

/// Stops the server and removes its directory once this test process has exited.
// The watchdog must outlive this process, so it is never waited for.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(bin: &Path, dir: &Path, data: &Path) {
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} stop -D {} -m immediate",
            bin.join("pg_ctl").display(),
            data.display()
        )
    } else {
        format!(
            "{} stop -D {} -m immediate",
            bin.join("pg_ctl").display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog");
}

/// One `#[tokio::test]` per backend for each named test function (taking a [`Db`]): `sqlite`
/// and `postgres`, in a module named after the function.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Db::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Db::postgres().await).await
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use both_backends;
