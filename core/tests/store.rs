//! The SQLite file store: restarts, migrations, refusals (newer, foreign, corrupt, locked,
//! read-only files) that leave the file untouched, and durability across `kill -9`.
//!
//! Some tests run a copy of this test binary as a child process (see `child_entry`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portway::{ExposeOptions, Portway, SandboxStatus};

const CHILD_ENV: &str = "PORTWAY_TEST_CHILD";
const DB_ENV: &str = "PORTWAY_TEST_DB";

fn open(path: &Path) -> portway::Result<Portway> {
    Portway::builder()
        .store_path(path.to_str().unwrap())
        .build()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The `result ...` line an opener child printed.
fn result_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    match text.find("result ") {
        Some(i) => text[i..].lines().next().unwrap_or_default().to_owned(),
        None => panic!(
            "no result in {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn child(role: &str, db: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .env(DB_ENV, db);
    cmd
}

/// Not a test of its own: the body of the child processes the other tests start.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = PathBuf::from(std::env::var(DB_ENV).unwrap());
    let out = std::io::stdout();
    match role.as_str() {
        // Exposes ports forever, printing each acknowledged URL, until it is killed.
        "writer" => rt().block_on(async {
            let portway = open(&db).unwrap();
            for i in 0u32.. {
                let sb = portway
                    .sandbox(&format!("box-{}", i % 10), "127.0.0.1")
                    .unwrap();
                let port = 10_000 + (i / 10) as u16;
                let e = sb
                    .expose_port(port, ExposeOptions::new("localhost"))
                    .await
                    .unwrap();
                let mut out = out.lock();
                writeln!(out, "ack {} {} {}", sb.id(), port, e.url).unwrap();
                out.flush().unwrap();
            }
        }),
        // Holds the store open until stdin closes.
        "holder" => {
            let _portway = open(&db).unwrap();
            writeln!(out.lock(), "holding").unwrap();
            out.lock().flush().unwrap();
            let _ = std::io::stdin().read_line(&mut String::new());
        }
        // Exposes ports on a store on a tiny file system until the disk is full, checks that
        // the failed write changed nothing, then copies the files out for the parent.
        "filler" => rt().block_on(async {
            let portway = open(&db).unwrap();
            let sb = portway.sandbox("box", "127.0.0.1").unwrap();
            let mut failed = None;
            for port in 10_000u16..20_000 {
                match sb.expose_port(port, ExposeOptions::new("localhost")).await {
                    Ok(e) => println!("ack {port} {}", e.url),
                    Err(e) => {
                        failed = Some((port, e));
                        break;
                    }
                }
            }
            let (port, err) = failed.expect("the disk never filled");
            println!("error {port} {} {err}", err.code());
            assert!(!sb.is_port_exposed(port).await, "a failed write is visible");
            let listed = sb.get_exposed_ports("localhost").await.unwrap();
            println!("listed {}", listed.len());
            drop(sb);
            drop(portway);
            let out = PathBuf::from(std::env::var("PORTWAY_TEST_OUT").unwrap());
            for suffix in ["", "-wal"] {
                let from = format!("{}{suffix}", db.display());
                if std::path::Path::new(&from).exists() {
                    std::fs::copy(
                        &from,
                        format!("{}{suffix}", out.join("portway.db").display()),
                    )
                    .unwrap();
                }
            }
            println!("copied");
        }),
        // Tries to open the store and prints the outcome.
        "opener" => match open(&db) {
            Ok(_) => println!("result ok"),
            Err(e) => println!("result {} {e}", e.code()),
        },
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn acknowledged_exposures_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    let mut proc = child("writer", &db).stdout(Stdio::piped()).spawn().unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    while acked.len() < 1000 {
        let line = lines.next().expect("the writer stopped early").unwrap();
        // libtest may print "test child_entry ... " before the first line of output.
        if let Some(rest) = line.split_once("ack ").map(|(_, r)| r) {
            let parts: Vec<String> = rest.split(' ').map(str::to_owned).collect();
            acked.push(parts);
        }
    }
    proc.kill().unwrap(); // SIGKILL, right after the 1000th acknowledgement
    proc.wait().unwrap();

    let portway = open(&db).unwrap();
    rt().block_on(async {
        for ack in &acked {
            let sb = portway.sandbox(&ack[0], "127.0.0.1").unwrap();
            let port: u16 = ack[1].parse().unwrap();
            let listed = sb.get_exposed_ports("localhost").await.unwrap();
            let found = listed
                .iter()
                .find(|p| p.port == port)
                .unwrap_or_else(|| panic!("lost {ack:?}"));
            assert_eq!(found.url, ack[2], "token changed for {ack:?}");
        }
    });
}

#[test]
fn a_second_process_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    let mut holder = child("holder", &db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().ends_with("holding")));

    let result = result_line(&child("opener", &db).output().unwrap());
    assert!(result.starts_with("result STORE_ERROR"), "{result}");
    assert!(result.contains("another process"), "{result}");

    drop(holder.stdin.take()); // the holder exits
    holder.wait().unwrap();
    assert_eq!(
        result_line(&child("opener", &db).output().unwrap()),
        "result ok"
    );
}

#[test]
fn restart_keeps_state_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    let (url, url2) = rt().block_on(async {
        let p = open(&db).unwrap();
        let sb = p.sandbox("box", "10.0.0.7").unwrap();
        let url = sb
            .expose_port(8080, ExposeOptions::new("localhost").name("web"))
            .await
            .unwrap()
            .url;
        let url2 = sb
            .expose_port(8081, ExposeOptions::new("localhost").token("custom_token"))
            .await
            .unwrap()
            .url;
        sb.expose_port(8082, ExposeOptions::new("localhost"))
            .await
            .unwrap();
        sb.unexpose_port(8082).await.unwrap();
        sb.mark_stopped().await.unwrap();
        let gone = p.sandbox("gone", "127.0.0.1").unwrap();
        gone.expose_port(8080, ExposeOptions::new("localhost"))
            .await
            .unwrap();
        gone.destroy().await.unwrap();
        (url, url2)
    });
    let p = open(&db).unwrap();
    let info = p.get_sandbox("box").unwrap();
    assert_eq!(
        (info.upstream_host.as_str(), info.status, info.exposed_ports),
        ("10.0.0.7", SandboxStatus::Stopped, 2)
    );
    assert!(p.get_sandbox("gone").is_none());
    rt().block_on(async {
        let sb = p.sandbox("box", "10.0.0.7").unwrap();
        let ports = sb.get_exposed_ports("localhost").await.unwrap();
        assert_eq!(
            ports.iter().map(|p| p.url.clone()).collect::<Vec<_>>(),
            [url.clone(), url2]
        );
        assert_eq!(ports[0].name.as_deref(), Some("web"));
        assert_eq!(ports[0].status.as_str(), "inactive");
        sb.mark_running().await.unwrap();
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        assert!(
            matches!(p.resolve(host), portway::Resolution::Upstream(u) if u.host() == "10.0.0.7")
        );
    });
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn assert_refused(path: &Path, contains: &str) {
    let before = file_bytes(path);
    let err = open(path).unwrap_err();
    assert_eq!(err.code().as_str(), "STORE_ERROR");
    assert!(err.to_string().contains(contains), "{err}");
    assert_eq!(file_bytes(path), before, "the refused file was modified");
    assert!(
        !path.with_extension("db-wal").exists()
            || std::fs::metadata(path.with_extension("db-wal"))
                .unwrap()
                .len()
                == 0
    );
}

#[test]
fn a_file_from_a_newer_portway_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    rt().block_on(async {
        let p = open(&db).unwrap();
        p.sandbox("box", "127.0.0.1")
            .unwrap()
            .expose_port(8080, ExposeOptions::new("localhost"))
            .await
            .unwrap();
    });
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.pragma_update(None, "user_version", portway::store::SCHEMA_VERSION + 1)
            .unwrap();
    }
    assert_refused(&db, "newer Portway");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM exposures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "rows were lost");
}

#[test]
fn a_corrupt_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    std::fs::write(
        &db,
        b"this is not an SQLite database, but it is someone's data\n".repeat(100),
    )
    .unwrap();
    assert_refused(&db, "not an SQLite database");

    // A real database whose pages were damaged.
    let db2 = dir.path().join("damaged.db");
    rt().block_on(async {
        let p = open(&db2).unwrap();
        let sb = p.sandbox("box", "127.0.0.1").unwrap();
        for port in 10_000..10_300 {
            sb.expose_port(port, ExposeOptions::new("localhost"))
                .await
                .unwrap();
        }
    });
    {
        let conn = rusqlite::Connection::open(&db2).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let mut bytes = file_bytes(&db2);
    let len = bytes.len();
    for b in &mut bytes[4096..len.min(4096 * 3)] {
        *b = 0xA5;
    }
    std::fs::write(&db2, &bytes).unwrap();
    assert_refused(&db2, "corrupt");
}

#[test]
fn a_foreign_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');").unwrap();
    }
    assert_refused(&db, "not a Portway store");
}

#[test]
fn a_version_1_file_is_migrated_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE sandboxes (
                 id TEXT PRIMARY KEY NOT NULL, upstream_host TEXT NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('running', 'stopped')),
                 updated_at_ms INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE exposures (
                 sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
                 port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
                 token TEXT NOT NULL, name TEXT, created_at_ms INTEGER NOT NULL,
                 PRIMARY KEY (sandbox_id, port)) WITHOUT ROWID;
             INSERT INTO sandboxes VALUES ('box', '10.1.2.3', 'running', 1);
             INSERT INTO exposures VALUES ('box', 8080, 'oldtoken123', 'web', 1);
             PRAGMA user_version = 1;
             PRAGMA application_id = 1347895641;",
        )
        .unwrap();
    }
    let p = open(&db).unwrap();
    rt().block_on(async {
        let sb = p.sandbox("box", "10.1.2.3").unwrap();
        let ports = sb.get_exposed_ports("localhost").await.unwrap();
        assert_eq!(ports[0].url, "http://8080-box-oldtoken123.localhost/");
        // Schema 2 enforces unique tokens per sandbox in the file as well.
        let err = sb
            .expose_port(8081, ExposeOptions::new("localhost").token("oldtoken123"))
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), "TOKEN_IN_USE");
    });
    drop(p);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, portway::store::SCHEMA_VERSION);
    let idx: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'exposures_token'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 1);
}

#[test]
fn a_read_only_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portway.db");
    rt().block_on(async {
        let p = open(&db).unwrap();
        p.sandbox("box", "127.0.0.1")
            .unwrap()
            .expose_port(8080, ExposeOptions::new("localhost"))
            .await
            .unwrap();
    });
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let result = if is_root {
        // Root writes through file modes, so make the file system itself read-only, in a
        // private mount namespace that disappears with the child.
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let script = format!(
            "mount -t tmpfs tmpfs {ro} && cp {db} {ro}/portway.db && mount -o remount,ro {ro} && \
             {PORTWAY_TEST_DB}={ro}/portway.db exec \"$0\" child_entry --exact --nocapture --test-threads=1",
            ro = ro.display(),
            db = db.display(),
            PORTWAY_TEST_DB = DB_ENV,
        );
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .arg(std::env::current_exe().unwrap())
            .env(CHILD_ENV, "opener")
            .output()
            .expect("unshare (util-linux) is needed to test a read-only file system as root")
    } else {
        let mut perms = std::fs::metadata(&db).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&db, perms).unwrap();
        child("opener", &db).output().unwrap()
    };
    let line = result_line(&result);
    assert!(line.starts_with("result STORE_ERROR"), "{line}");
    assert!(line.contains("read-only"), "{line}");
}

#[test]
fn a_full_disk_is_a_store_error_and_loses_nothing() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !is_root {
        println!("skipped: filling a file system needs a private tmpfs mount, which needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let out = dir.path().join("out");
    std::fs::create_dir(&small).unwrap();
    std::fs::create_dir(&out).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs {small} && {db_env}={small}/portway.db PORTWAY_TEST_OUT={out} \
         exec \"$0\" child_entry --exact --nocapture --test-threads=1",
        small = small.display(),
        out = out.display(),
        db_env = DB_ENV,
    );
    let result = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_ENV, "filler")
        .output()
        .expect("unshare (util-linux) is needed");
    let text = String::from_utf8_lossy(&result.stdout);
    assert!(
        text.contains("copied"),
        "{text}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let error = text
        .lines()
        .find_map(|l| l.split_once("error ").map(|(_, r)| r.to_owned()))
        .unwrap();
    assert!(
        error.contains("STORE_ERROR") && error.contains("disk is full"),
        "{error}"
    );
    let acked: Vec<(u16, String)> = text
        .lines()
        .filter_map(|l| l.split_once("ack ").map(|(_, r)| r.to_owned()))
        .map(|r| {
            let (port, url) = r.split_once(' ').unwrap();
            (port.parse().unwrap(), url.to_owned())
        })
        .collect();
    assert!(
        acked.len() > 5,
        "the disk filled too early to say anything: {text}"
    );
    let listed: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("listed ").map(|n| n.parse().unwrap()))
        .unwrap();
    assert_eq!(
        listed,
        acked.len(),
        "the registry disagrees with what was acknowledged"
    );

    let copy = open(&out.join("portway.db")).unwrap();
    rt().block_on(async {
        let sb = copy.sandbox("box", "127.0.0.1").unwrap();
        let ports = sb.get_exposed_ports("localhost").await.unwrap();
        assert_eq!(ports.len(), acked.len());
        for ((port, url), got) in acked.iter().zip(&ports) {
            assert_eq!((got.port, &got.url), (*port, url));
        }
    });
}
