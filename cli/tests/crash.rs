//! `kill -9` of `portway serve` in the middle of a stream of admin API writes: every write
//! that was acknowledged is there after a restart, with the same token and URL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const EXPOSURES: usize = 10_000;
const SANDBOXES: usize = 20;

fn start(store: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portway"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--store",
            store,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _gateway = lines.next().unwrap().unwrap();
    let admin = lines.next().unwrap().unwrap();
    let admin = admin
        .strip_prefix("admin API listening on ")
        .unwrap()
        .parse()
        .unwrap();
    (child, admin)
}

/// A keep-alive admin API client.
struct Client(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client(sender)
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), hyper::Error> {
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        self.0.ready().await?;
        let res = self.0.send_request(req).await?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_admin_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("portway.db");
    let store = store.to_str().unwrap();
    let (mut child, admin) = start(store);
    let mut client = Client::connect(admin).await;
    for i in 0..SANDBOXES {
        let (status, _) = client
            .call("PUT", &format!("/v1/sandboxes/box-{i}"), None)
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    // A second writer keeps a write in flight at every moment, so the kill lands mid-write.
    let (_, _) = client
        .call("PUT", "/v1/sandboxes/noise", None)
        .await
        .unwrap();
    let noise_acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noise = {
        let acked = noise_acked.clone();
        let mut client = Client::connect(admin).await;
        tokio::spawn(async move {
            for port in 20_000u16..60_000 {
                let body = json!({"port": port, "hostname": "localhost"});
                match client
                    .call("POST", "/v1/sandboxes/noise/ports", Some(body))
                    .await
                {
                    Ok((200, v)) => acked
                        .lock()
                        .unwrap()
                        .push((port, v["url"].as_str().unwrap().to_owned())),
                    _ => break,
                }
            }
        })
    };
    // Write until 10,000 are acknowledged, then kill -9 at once while writes keep coming.
    let mut acked: Vec<(String, u16, String)> = Vec::with_capacity(EXPOSURES);
    let mut n = 0usize;
    loop {
        let sandbox = format!("box-{}", n % SANDBOXES);
        let port = 10_000 + (n / SANDBOXES) as u16;
        let body = json!({"port": port, "hostname": "localhost"});
        match client
            .call(
                "POST",
                &format!("/v1/sandboxes/{sandbox}/ports"),
                Some(body),
            )
            .await
        {
            Ok((200, v)) => acked.push((sandbox, port, v["url"].as_str().unwrap().to_owned())),
            Ok((status, v)) => panic!("write {n} failed with {status}: {v}"),
            Err(e) => panic!("write {n} failed: {e}"),
        }
        n += 1;
        if acked.len() == EXPOSURES {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    noise.await.unwrap();

    let (mut child, admin) = start(store);
    let mut client = Client::connect(admin).await;
    let mut restored = 0;
    for i in 0..SANDBOXES {
        let sandbox = format!("box-{i}");
        let (status, v) = client
            .call(
                "GET",
                &format!("/v1/sandboxes/{sandbox}/ports?hostname=localhost"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        let urls: std::collections::HashMap<u64, String> = v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_u64().unwrap(),
                    p["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (_, port, url) in acked.iter().filter(|(s, _, _)| *s == sandbox) {
            assert_eq!(
                urls.get(&u64::from(*port)),
                Some(url),
                "{sandbox}:{port} lost or changed"
            );
            restored += 1;
        }
    }
    assert_eq!(restored, EXPOSURES);
    let (_, v) = client
        .call("GET", "/v1/sandboxes/noise/ports?hostname=localhost", None)
        .await
        .unwrap();
    let noise_urls: std::collections::HashSet<&str> = v["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    let noise_acked = noise_acked.lock().unwrap();
    for (port, url) in noise_acked.iter() {
        assert!(noise_urls.contains(url.as_str()), "noise:{port} lost");
    }
    println!(
        "{restored} + {} acknowledged exposures restored after kill -9",
        noise_acked.len()
    );
    let _ = child.kill();
    let _ = child.wait();
}
