//! The Redis store: one registry shared by every process that points at the same Redis (or
//! Valkey), each of them keeping a whole copy in memory and following the changes.
//!
//! Keys, under a prefix (`portway:` unless the URL's `?prefix=` says otherwise):
//!
//! - `{prefix}sandbox:{id}`: one sandbox as JSON (its upstream host, status and exposures);
//! - `{prefix}sandboxes`: the set of sandbox ids;
//! - `{prefix}revision`: the number of the last change, one more with every change;
//! - `{prefix}epoch`: a random identity written with the first change, so that a Redis
//!   restarted without its data is told from one that kept it;
//! - the channel `{prefix}changes`: `"{revision} {id}"` published with every change.
//!
//! A write reads the sandbox under `WATCH` ([`Store::read_for_write`]), and commits in
//! `MULTI`/`EXEC` with one script that writes the record, bumps the revision and publishes
//! the change, so a change is whole or absent, and a write based on a sandbox another process
//! changed meanwhile is not committed ([`Store::try_apply`] says so, and the registry reads
//! again and retries). The rules (token uniqueness, a re-exposed port keeping its token) are
//! the registry's, applied to the fresh record. `EXEC` answers after Redis applied the
//! change: an acknowledged write is in Redis (on disk as Redis's own persistence settings
//! say).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis::{Client, Connection, ConnectionLike, RedisError};
use serde_json::{Value as Json, json};

use super::{
    Change, ChangeFeed, ExposureRecord, FeedEvent, Revision, SandboxRecord, SandboxStatus, Store,
    changed_record,
};
use crate::error::{Error, Result};

/// The key prefix unless the URL names one.
const DEFAULT_PREFIX: &str = "portway:";
/// How long connecting may take, and a command may wait for its answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Sandboxes fetched per `MGET` when loading.
const LOAD_BATCH: usize = 1000;

/// Writes one sandbox's record (or deletes it for an empty record), bumps the revision,
/// sets the epoch if there is none, and publishes the change; returns the revision.
/// KEYS: sandbox, ids, revision, epoch. ARGV: id, record JSON or "", channel, new epoch.
const COMMIT: &str = r"
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
end
redis.call('SET', KEYS[4], ARGV[4], 'NX')
local revision = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], revision .. ' ' .. ARGV[1])
return revision
";

/// Whether `s` names a Redis server (`redis://`, `rediss://`, `redis+unix://`, `unix://`).
pub(crate) fn is_redis_url(s: &str) -> bool {
    [
        "redis://",
        "rediss://",
        "redis+unix://",
        "valkey://",
        "valkeys://",
    ]
    .iter()
    .any(|scheme| s.len() > scheme.len() && s[..scheme.len()].eq_ignore_ascii_case(scheme))
}

/// A store in Redis, shared by every process that opens the same URL and prefix.
///
/// ```no_run
/// use portway::store::{RedisStore, Store};
/// let mut store = RedisStore::open("redis://127.0.0.1:6379/0?prefix=staging:")?;
/// println!("{} sandboxes", store.load()?.len());
/// # Ok::<(), portway::Error>(())
/// ```
pub struct RedisStore {
    client: Client,
    /// The server as the URL names it, without credentials (for messages).
    server: String,
    keys: Keys,
    /// The connection for reads and writes, made again after a failure.
    con: Option<Connection>,
    /// The sandbox [`Store::read_for_write`] read, with what it held.
    watched: Option<(String, Option<SandboxRecord>)>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.server)
            .field("prefix", &self.keys.prefix)
            .finish_non_exhaustive()
    }
}

/// The names of the store's keys and channel.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
    ids: String,
    revision: String,
    epoch: String,
    channel: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
            ids: format!("{prefix}sandboxes"),
            revision: format!("{prefix}revision"),
            epoch: format!("{prefix}epoch"),
            channel: format!("{prefix}changes"),
        }
    }

    fn sandbox(&self, id: &str) -> String {
        format!("{}sandbox:{id}", self.prefix)
    }
}

impl RedisStore {
    /// Connects to the Redis server `url` names (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://` for TLS, its certificate checked against the system's roots and
    /// `SSL_CERT_FILE`/`SSL_CERT_DIR`; `?prefix=` for the keys' prefix). A server that cannot
    /// be reached, or whose certificate is not trusted, is `STORE_ERROR`, naming it.
    pub fn open(url: &str) -> Result<RedisStore> {
        let (url, prefix) = split_prefix(url)?;
        // rediss://: rustls needs its crypto provider chosen once per process (ring); one a
        // host application installed already stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::open(url.as_str())
            .map_err(|e| Error::InvalidConfig(format!("store: not a usable Redis URL: {e}")))?;
        let server = describe(&client);
        let mut store = RedisStore {
            client,
            server,
            keys: Keys::new(&prefix),
            con: None,
            watched: None,
        };
        // The store's own connection, made now so that a server that cannot be reached is
        // refused here.
        match connect(&store.client) {
            Ok(con) => store.con = Some(con),
            Err(e) => {
                return Err(Error::Store(format!(
                    "Redis at {} is unreachable: {e}",
                    store.server
                )));
            }
        }
        // The epoch exists from the first open, so a follower always knows the one it read.
        let (epoch, made) = (store.keys.epoch.clone(), crate::token::generate_token());
        store.run(|con| redis::cmd("SET").arg(&epoch).arg(&made).arg("NX").exec(con))?;
        Ok(store)
    }

    /// The connection, made if there is none.
    fn connection(&mut self) -> Result<&mut Connection> {
        if self.con.is_none() {
            let con = connect(&self.client).map_err(|e| self.unreachable(&e))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("just made"))
    }

    /// The error for a failed command; a connection that failed is dropped, to be made
    /// again by the next command.
    fn failed(&mut self, e: RedisError) -> Error {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.is_unrecoverable_error()
        {
            self.con = None;
            self.unreachable(&e)
        } else {
            Error::Store(format!("Redis at {}: {e}", self.server))
        }
    }

    fn unreachable(&self, e: &RedisError) -> Error {
        Error::Store(format!(
            "Redis at {} is unreachable ({e}): the change was not stored",
            self.server
        ))
    }

    /// Runs `f` on the connection, turning a Redis error into a store error.
    fn run<T>(&mut self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Result<T> {
        let con = self.connection()?;
        match f(con) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn get(&mut self, id: &str) -> Result<Option<SandboxRecord>> {
        let key = self.keys.sandbox(id);
        let raw: Option<String> = self.run(|con| redis::cmd("GET").arg(&key).query(con))?;
        raw.map(|text| decode(id, &text)).transpose()
    }

    /// Writes the record `change` makes of `current`, in `MULTI`/`EXEC`: `false` when a
    /// watched key changed and nothing was written.
    fn commit(&mut self, current: Option<SandboxRecord>, change: Change<'_>) -> Result<bool> {
        let id = change.sandbox_id().to_owned();
        let record = changed_record(current, change);
        let text = record.as_ref().map_or_else(String::new, encode);
        let keys = self.keys.clone();
        let epoch = crate::token::generate_token();
        let done: Option<(u64,)> = self.run(|con| {
            redis::pipe()
                .atomic()
                .cmd("EVAL")
                .arg(COMMIT)
                .arg(4)
                .arg(keys.sandbox(&id))
                .arg(&keys.ids)
                .arg(&keys.revision)
                .arg(&keys.epoch)
                .arg(&id)
                .arg(&text)
                .arg(&keys.channel)
                .arg(&epoch)
                .query(con)
        })?;
        Ok(done.is_some())
    }
}

impl Store for RedisStore {
    fn load(&mut self) -> Result<Vec<SandboxRecord>> {
        let ids_key = self.keys.ids.clone();
        let mut ids: Vec<String> =
            self.run(|con| redis::cmd("SMEMBERS").arg(&ids_key).query(con))?;
        ids.sort_unstable();
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(LOAD_BATCH) {
            let keys: Vec<String> = batch.iter().map(|id| self.keys.sandbox(id)).collect();
            let texts: Vec<Option<String>> =
                self.run(|con| redis::cmd("MGET").arg(&keys).query(con))?;
            for (id, text) in batch.iter().zip(texts) {
                // An id whose record a concurrent destroy removed in between: gone.
                if let Some(text) = text {
                    out.push(decode(id, &text)?);
                }
            }
        }
        Ok(out)
    }

    fn apply(&mut self, change: Change<'_>) -> Result<()> {
        // Without the registry's rules in between: read, commit, again if another process
        // wrote the sandbox meanwhile.
        loop {
            // Reads the sandbox (watched) for try_apply.
            self.read_for_write(change.sandbox_id())?;
            if self.try_apply(change)? {
                return Ok(());
            }
        }
    }

    fn shared(&self) -> bool {
        true
    }

    fn read_for_write(&mut self, id: &str) -> Result<Option<SandboxRecord>> {
        let key = self.keys.sandbox(id);
        self.watched = None;
        self.run(|con| {
            redis::cmd("UNWATCH").exec(con)?;
            redis::cmd("WATCH").arg(&key).exec(con)
        })?;
        let current = self.get(id)?;
        self.watched = Some((id.to_owned(), current.clone()));
        Ok(current)
    }

    fn try_apply(&mut self, change: Change<'_>) -> Result<bool> {
        let current = match self.watched.take() {
            Some((id, current)) if id == change.sandbox_id() => current,
            // Not read first: read now (watched), then commit.
            _ => {
                let current = self.read_for_write(change.sandbox_id())?;
                self.watched = None;
                current
            }
        };
        self.commit(current, change)
    }

    fn read(&mut self, id: &str) -> Result<Option<SandboxRecord>> {
        self.get(id)
    }

    fn revision(&mut self) -> Result<Revision> {
        let (epoch, revision) = (self.keys.epoch.clone(), self.keys.revision.clone());
        let (epoch, number): (Option<String>, Option<u64>) =
            self.run(|con| redis::cmd("MGET").arg(&epoch).arg(&revision).query(con))?;
        Ok(Revision {
            epoch: epoch.unwrap_or_default(),
            number: number.unwrap_or(0),
        })
    }

    fn feed(&mut self) -> Option<Box<dyn ChangeFeed>> {
        Some(Box::new(RedisFeed::start(
            self.client.clone(),
            self.server.clone(),
            self.keys.channel.clone(),
        )))
    }
}

/// The changes published on the channel, read by a thread of its own (which reconnects
/// with backoff) and handed over through a channel; the thread ends when the feed is dropped.
struct RedisFeed {
    events: mpsc::Receiver<FeedEvent>,
}

impl RedisFeed {
    fn start(client: Client, server: String, channel: String) -> RedisFeed {
        let (tx, events) = mpsc::channel();
        std::thread::Builder::new()
            .name("portway-redis-feed".into())
            .spawn(move || follow(&client, &server, &channel, &tx))
            .expect("spawning the Redis feed thread");
        RedisFeed { events }
    }
}

impl ChangeFeed for RedisFeed {
    fn next(&mut self, wait: Duration) -> FeedEvent {
        match self.events.recv_timeout(wait) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => FeedEvent::Quiet,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                FeedEvent::Down("the feed thread ended".into())
            }
        }
    }
}

/// The feed thread: subscribe, hand over each message, and on a failure say so and connect
/// again (waits doubling from 50 ms to 2 s). Ends when the receiver is gone.
fn follow(client: &Client, server: &str, channel: &str, tx: &mpsc::Sender<FeedEvent>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let failure = match connect(client) {
            Err(e) => e.to_string(),
            Ok(mut con) => {
                let started = Instant::now();
                let reason = subscribed(&mut con, channel, tx);
                match reason {
                    None => return, // the receiver is gone
                    Some(reason) => {
                        if started.elapsed() > Duration::from_secs(5) {
                            backoff = Duration::from_millis(50);
                        }
                        reason
                    }
                }
            }
        };
        if tx
            .send(FeedEvent::Down(format!("Redis at {server}: {failure}")))
            .is_err()
        {
            return;
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Reads the channel until the connection fails (`Some(why)`) or the receiver is gone
/// (`None`).
fn subscribed(con: &mut Connection, channel: &str, tx: &mpsc::Sender<FeedEvent>) -> Option<String> {
    let mut pubsub = con.as_pubsub();
    if let Err(e) = pubsub.subscribe(channel) {
        return Some(e.to_string());
    }
    // Reads wake up every half second, so a feed nobody reads any more is noticed.
    if let Err(e) = pubsub.set_read_timeout(Some(Duration::from_millis(500))) {
        return Some(e.to_string());
    }
    tx.send(FeedEvent::Connected).ok()?;
    loop {
        match pubsub.get_message() {
            Ok(msg) => {
                let payload: String = msg.get_payload().unwrap_or_default();
                let Some((revision, sandbox)) = payload.split_once(' ') else {
                    continue;
                };
                let Ok(revision) = revision.parse() else {
                    continue;
                };
                let event = FeedEvent::Changed {
                    revision,
                    sandbox: sandbox.to_owned(),
                };
                tx.send(event).ok()?;
            }
            Err(e) if e.is_timeout() => {
                tx.send(FeedEvent::Quiet).ok()?;
            }
            Err(e) => return Some(e.to_string()),
        }
    }
}

/// A connection with the store's timeouts.
fn connect(client: &Client) -> redis::RedisResult<Connection> {
    let con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    con.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    if !con.is_open() {
        return Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "the connection closed",
        )));
    }
    Ok(con)
}

/// The URL without its `prefix` query parameter, and the prefix.
fn split_prefix(url: &str) -> Result<(String, String)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_PREFIX.to_owned()));
    };
    let mut prefix = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("prefix", value)) => prefix = Some(value.to_owned()),
            _ => rest.push(pair),
        }
    }
    let prefix = prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(|c| c.is_whitespace()) {
        return Err(Error::InvalidConfig(format!(
            "store: the Redis key prefix must be 1 to 64 characters without spaces (got {prefix:?})"
        )));
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, prefix))
}

/// `host:port/db` of a client, never its credentials.
fn describe(client: &Client) -> String {
    let info = client.get_connection_info();
    format!("{}/{}", info.addr(), info.redis_settings().db())
}

fn encode(sb: &SandboxRecord) -> String {
    let exposures: Vec<Json> = sb
        .exposures
        .iter()
        .map(|e| {
            json!({
                "port": e.port,
                "token": e.token,
                "name": e.name,
                "created_at_ms": e.created_at_ms,
            })
        })
        .collect();
    json!({
        "upstream_host": sb.upstream_host,
        "status": sb.status.as_str(),
        "exposures": exposures,
    })
    .to_string()
}

fn decode(id: &str, text: &str) -> Result<SandboxRecord> {
    let bad = |what: &str| {
        Error::Store(format!(
            "Redis holds a malformed record for sandbox {id:?}: {what}"
        ))
    };
    let v: Json = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let upstream_host = v["upstream_host"]
        .as_str()
        .ok_or_else(|| bad("no upstream_host"))?;
    let status = v["status"]
        .as_str()
        .and_then(SandboxStatus::parse)
        .ok_or_else(|| bad("no status"))?;
    let mut exposures = Vec::new();
    for e in v["exposures"]
        .as_array()
        .ok_or_else(|| bad("no exposures"))?
    {
        exposures.push(ExposureRecord {
            port: e["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| bad("an exposure without a port"))?,
            token: e["token"]
                .as_str()
                .ok_or_else(|| bad("an exposure without a token"))?
                .to_owned(),
            name: e["name"].as_str().map(str::to_owned),
            created_at_ms: e["created_at_ms"].as_i64().unwrap_or(0),
        });
    }
    exposures.sort_by_key(|e| e.port);
    Ok(SandboxRecord {
        id: id.to_owned(),
        upstream_host: upstream_host.to_owned(),
        status,
        exposures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_comes_out_of_the_url() {
        assert_eq!(
            split_prefix("redis://h:1/2").unwrap(),
            ("redis://h:1/2".into(), "portway:".into())
        );
        assert_eq!(
            split_prefix("redis://h:1/2?prefix=staging:&protocol=resp3").unwrap(),
            ("redis://h:1/2?protocol=resp3".into(), "staging:".into())
        );
        assert!(split_prefix("redis://h?prefix=").is_err());
    }

    #[test]
    fn records_round_trip() {
        let sb = SandboxRecord {
            id: "box".into(),
            upstream_host: "10.0.0.2".into(),
            status: SandboxStatus::Stopped,
            exposures: vec![ExposureRecord {
                port: 8080,
                token: "abcdefgh12345678".into(),
                name: Some("web".into()),
                created_at_ms: 1234,
            }],
        };
        assert_eq!(decode("box", &encode(&sb)).unwrap(), sb);
        assert!(decode("box", "{}").is_err());
    }

    #[test]
    fn redis_urls_are_told_from_paths() {
        assert!(is_redis_url("redis://127.0.0.1"));
        assert!(is_redis_url("REDISS://user:pw@host:6380/1"));
        assert!(!is_redis_url("./redis.db"));
        assert!(!is_redis_url("redis://"));
    }
}
