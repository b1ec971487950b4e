//! The gateway's limits, and what holds them while a request lives: the admit phase
//! ([`SandboxLimits::admit`], the per-sandbox limit behind `429 SANDBOX_CONNECTION_LIMIT`)
//! and the permit it gives, a body that holds that permit, the open-connection guard, the
//! connections of each client address ([`ClientConnections`], `429
//! CLIENT_CONNECTION_LIMIT`), and the request rates ([`RateLimiter`], `429 RATE_LIMITED`).
//!
//! The per-client and rate limits exist only when configured: the gateway holds them as
//! `Option`s, so with the default of 0 a request takes no lock and looks nothing up for
//! them. Their maps are sharded by key (one mutex per shard), and stay bounded: a client
//! address leaves the connection map with its last connection, and a rate bucket is
//! forgotten once it has refilled (it would behave as a new one) or, past
//! [`MAX_RATE_KEYS`], when it is the least recently used.

use crate::lifecycle::{OpenGuard, PortCounters};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::metrics::Metrics;

/// Counts one client connection as open until the last clone is dropped (a WebSocket relay
/// holds a guard of its own for the session, taken before hyper hands the socket over), and
/// holds its client address's slot when `max_connections_per_client` is set.
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    metrics: Arc<Metrics>,
    _client: Option<ClientSlot>,
}

impl ConnectionGuard {
    pub fn new(metrics: Arc<Metrics>, client: Option<ClientSlot>) -> Arc<ConnectionGuard> {
        metrics.connection_opened();
        Arc::new(ConnectionGuard {
            metrics,
            _client: client,
        })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

/// Requests and WebSocket sessions in flight, per sandbox.
#[derive(Debug)]
pub(crate) struct SandboxLimits {
    max: usize,
    counts: Mutex<HashMap<Arc<str>, usize>>,
}

impl SandboxLimits {
    pub fn new(max: usize) -> Arc<SandboxLimits> {
        Arc::new(SandboxLimits {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more request to `sandbox`, or `None` at the limit.
    pub fn admit(self: &Arc<Self>, sandbox: &Arc<str>) -> Option<SandboxPermit> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(sandbox.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SandboxPermit {
            limits: self.clone(),
            sandbox: sandbox.clone(),
            open: None,
        })
    }
}

/// One request or session in flight to a sandbox; released on drop.
#[derive(Debug)]
pub(crate) struct SandboxPermit {
    limits: Arc<SandboxLimits>,
    sandbox: Arc<str>,
    /// The request counted open on its port's activity, once it has one.
    open: Option<OpenGuard>,
}

impl SandboxPermit {
    /// Counts the request open on `counters` (its port's activity) for as long as the
    /// permit is held.
    #[inline]
    pub fn count_on(&mut self, counters: &Arc<PortCounters>) {
        self.open = Some(counters.open());
    }

    /// The request's activity guard, if it is counted.
    pub fn activity(&mut self) -> Option<&mut OpenGuard> {
        self.open.as_mut()
    }

    /// The port the request is counted on.
    pub fn counters(&self) -> Option<&Arc<PortCounters>> {
        self.open.as_ref().map(OpenGuard::port)
    }
}

impl Drop for SandboxPermit {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.sandbox) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.sandbox);
            }
        }
    }
}

pin_project! {
    /// A response body that keeps its sandbox permit until the body is finished or dropped.
    pub(crate) struct Guarded<B> {
        #[pin]
        inner: B,
        permit: Option<SandboxPermit>,
    }
}

impl<B> Guarded<B> {
    pub fn new(inner: B, permit: SandboxPermit) -> Guarded<B> {
        Guarded {
            inner,
            permit: Some(permit),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Guarded<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(None | Some(Err(_))) => drop(this.permit.take()),
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(counters)) = (
                    frame.data_ref(),
                    this.permit.as_ref().and_then(SandboxPermit::counters),
                ) {
                    counters.sent(data.len());
                }
            }
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Shards of the per-client and rate maps: a power of two, so a hash picks one with a mask.
const SHARDS: usize = 16;

/// The most keys (client addresses, or sandboxes) one rate limiter tracks; past it, the
/// least recently used are forgotten (and start again with a full bucket). About 64 bytes
/// each: a few MiB at most.
pub(crate) const MAX_RATE_KEYS: usize = 65_536;

/// How often a shard of a rate limiter drops its refilled buckets, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The address a client is counted by: its IPv4 address (an IPv4-mapped IPv6 one as IPv4),
/// or the /64 of its IPv6 address, since one IPv6 host can use a whole /64.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A set of maps, each behind its own mutex, a key's shard chosen by its hash.
#[derive(Debug)]
struct Sharded<T> {
    hasher: RandomState,
    shards: Box<[Mutex<T>]>,
}

impl<T: Default> Sharded<T> {
    fn new() -> Sharded<T> {
        Sharded {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn index<K: Hash>(&self, key: &K) -> usize {
        self.hasher.hash_one(key) as usize & (SHARDS - 1)
    }

    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, T> {
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Connections open per client address, for `max_connections_per_client`. An address leaves
/// its map when its last connection closes, so the maps hold at most the open connections.
#[derive(Debug)]
pub(crate) struct ClientConnections {
    max: usize,
    open: Sharded<HashMap<IpAddr, usize>>,
}

impl ClientConnections {
    /// `None` for no limit (0).
    pub fn new(max: usize) -> Option<Arc<ClientConnections>> {
        (max > 0).then(|| {
            Arc::new(ClientConnections {
                max,
                open: Sharded::new(),
            })
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it has its maximum open.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        self.take(ip, false)
    }

    /// A slot for `ip` whatever it holds: a WebSocket session that outlives the connection
    /// it came on, which was let in already.
    pub fn open_anyway(self: &Arc<Self>, ip: IpAddr) -> ClientSlot {
        self.take(ip, true).expect("a forced slot is always given")
    }

    fn take(self: &Arc<Self>, ip: IpAddr, force: bool) -> Option<ClientSlot> {
        let key = client_key(ip);
        let shard = self.open.index(&key);
        let mut open = self.open.lock(shard);
        let n = open.entry(key).or_insert(0);
        if *n >= self.max && !force {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            key,
            shard,
        })
    }

    /// How many connections `ip` has open.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let key = client_key(ip);
        let open = self.open.lock(self.open.index(&key));
        open.get(&key).copied().unwrap_or(0)
    }

    /// How many client addresses have a connection open.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        (0..SHARDS).map(|i| self.open.lock(i).len()).sum()
    }
}

/// One open connection of a client address; released on drop.
#[derive(Debug)]
pub(crate) struct ClientSlot {
    table: Arc<ClientConnections>,
    key: IpAddr,
    shard: usize,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock(self.shard);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A token bucket: `tokens` as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct RateShard<K> {
    buckets: HashMap<K, Bucket>,
    swept: Option<Instant>,
}

impl<K> Default for RateShard<K> {
    fn default() -> Self {
        RateShard {
            buckets: HashMap::new(),
            swept: None,
        }
    }
}

/// A request rate per key (a client address, a sandbox): a token bucket of `burst` tokens
/// refilled at `rate` per second; a request takes one. Buckets that have refilled are
/// dropped (a new bucket is a full one), at most once a second per shard, and each check
/// also sweeps one other shard in turn, so idle keys go away while traffic flows; at most
/// `max_keys` are kept, the least recently used forgotten first.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    max_keys_per_shard: usize,
    shards: Sharded<RateShard<K>>,
    /// The next shard a check sweeps besides its own.
    cursor: AtomicUsize,
    /// How many keys have a bucket: a gauge of the gateway's metrics.
    tracked: Arc<AtomicUsize>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `None` when `rate` is 0 (no limit); `burst` 0 is the rate itself. `tracked` counts
    /// the keys that have a bucket.
    pub fn new(rate: usize, burst: usize, tracked: Arc<AtomicUsize>) -> Option<RateLimiter<K>> {
        RateLimiter::with_max_keys(rate, burst, MAX_RATE_KEYS, tracked)
    }

    pub fn with_max_keys(
        rate: usize,
        burst: usize,
        max_keys: usize,
        tracked: Arc<AtomicUsize>,
    ) -> Option<RateLimiter<K>> {
        (rate > 0).then(|| RateLimiter {
            rate: rate as f64,
            burst: if burst == 0 { rate } else { burst } as f64,
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
            shards: Sharded::new(),
            cursor: AtomicUsize::new(0),
            tracked,
        })
    }

    /// Takes a token for `key`: `Ok`, or `Err(seconds)` until one is there (at least 1).
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let i = self.shards.index(key);
        let result = {
            let mut shard = self.shards.lock(i);
            if shard
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
            {
                self.sweep(&mut shard, now);
            }
            if let Some(bucket) = shard.buckets.get_mut(key) {
                self.take(bucket, now)
            } else {
                if shard.buckets.len() >= self.max_keys_per_shard {
                    self.sweep(&mut shard, now);
                    self.evict_oldest(&mut shard);
                }
                let mut bucket = Bucket {
                    tokens: self.burst,
                    at: now,
                };
                let result = self.take(&mut bucket, now);
                shard.buckets.insert(key.clone(), bucket);
                self.tracked.fetch_add(1, Relaxed);
                result
            }
        };
        // One other shard, in turn, so that idle keys go everywhere.
        let j = self.cursor.fetch_add(1, Relaxed) & (SHARDS - 1);
        if j != i
            && let Ok(mut other) = self.shards.shards[j].try_lock()
            && other
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            self.sweep(&mut other, now);
        }
        result
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Drops the buckets that have refilled by `now`.
    fn sweep(&self, shard: &mut RateShard<K>, now: Instant) {
        let before = shard.buckets.len();
        let (rate, burst) = (self.rate, self.burst);
        shard.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
        shard.swept = Some(now);
        self.tracked
            .fetch_sub(before - shard.buckets.len(), Relaxed);
    }

    /// Forgets the least recently used quarter of a full shard.
    fn evict_oldest(&self, shard: &mut RateShard<K>) {
        let len = shard.buckets.len();
        if len < self.max_keys_per_shard {
            return;
        }
        let keep = self.max_keys_per_shard - self.max_keys_per_shard.div_ceil(4);
        let mut ages: Vec<Instant> = shard.buckets.values().map(|b| b.at).collect();
        let cut = len - keep;
        let (_, &mut oldest_kept, _) = ages.select_nth_unstable(cut - 1);
        let mut over = cut;
        shard.buckets.retain(|_, b| {
            if over > 0 && b.at <= oldest_kept {
                over -= 1;
                false
            } else {
                true
            }
        });
        self.tracked.fetch_sub(len - shard.buckets.len(), Relaxed);
    }

    /// How many keys have a bucket now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.tracked.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn clients_are_counted_by_ipv4_address_or_ipv6_64() {
        assert_eq!(client_key(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn client_connections_are_limited_per_address_and_released() {
        assert!(ClientConnections::new(0).is_none());
        let table = ClientConnections::new(2).unwrap();
        let a = ip("10.0.0.1");
        let first = table.open(a).unwrap();
        let second = table.open(a).unwrap();
        assert!(table.open(a).is_none());
        assert!(
            table.open(ip("10.0.0.2")).is_some(),
            "another address is not held back"
        );
        // Another address of the same IPv6 /64 counts as the same client.
        let v6 = table.open(ip("2001:db8::1")).unwrap();
        let _v6b = table.open(ip("2001:db8::2")).unwrap();
        assert!(table.open(ip("2001:db8::3")).is_none());
        drop(v6);
        assert!(table.open(ip("2001:db8::3")).is_some());
        let forced = table.open_anyway(a);
        assert_eq!(table.count(a), 3);
        drop((first, second, forced));
        assert_eq!(table.count(a), 0);
        assert_eq!(table.addresses(), 1, "only the IPv6 client's slot is left");
    }

    #[test]
    fn the_bucket_holds_burst_requests_and_refills_at_the_rate() {
        assert!(RateLimiter::<u32>::new(0, 5, Arc::default()).is_none());
        let limiter = RateLimiter::new(2, 4, Arc::default()).unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(limiter.check_at(&1u32, t0), Ok(()));
        }
        assert_eq!(limiter.check_at(&1, t0), Err(1));
        assert_eq!(limiter.check_at(&2, t0), Ok(()), "keys are independent");
        // Two tokens a second: one back after 500 ms.
        assert_eq!(
            limiter.check_at(&1, t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(
            limiter.check_at(&1, t0 + Duration::from_millis(500)),
            Err(1)
        );
        // Burst 0 is the rate.
        let limiter = RateLimiter::new(3, 0, Arc::default()).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(&1u32, t0), Ok(()));
        }
        assert!(limiter.check_at(&1, t0).is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_until_a_token() {
        // Rate 1, burst 1: right after a request, the next token is a second away.
        let limiter = RateLimiter::new(1, 1, Arc::default()).unwrap();
        let t0 = Instant::now();
        assert_eq!(limiter.check_at(&1u32, t0), Ok(()));
        assert_eq!(limiter.check_at(&1, t0), Err(1));
        assert_eq!(
            limiter.check_at(&1, t0 + Duration::from_millis(999)),
            Err(1)
        );
        assert_eq!(
            limiter.check_at(&1, t0 + Duration::from_millis(1000)),
            Ok(())
        );
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let limiter = RateLimiter::new(100, 1, Arc::default()).unwrap();
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let _ = limiter.check_at(&i, t0);
        }
        assert_eq!(limiter.tracked(), 1000);
        // A second later every bucket has refilled; checks sweep their shard and one other.
        let later = t0 + Duration::from_secs(2);
        for _ in 0..SHARDS {
            let _ = limiter.check_at(&5000, later);
        }
        assert!(limiter.tracked() <= 1, "{} keys left", limiter.tracked());
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        // A slow rate, so no bucket refills during the flood: only the cap bounds the map.
        let limiter = RateLimiter::with_max_keys(1, 1000, 256, Arc::default()).unwrap();
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(i));
            let _ = limiter.check_at(&addr, t0 + Duration::from_micros(u64::from(i)));
            assert!(
                limiter.tracked() <= 256 + SHARDS,
                "{} at {i}",
                limiter.tracked()
            );
        }
        let len: usize = (0..SHARDS)
            .map(|i| limiter.shards.lock(i).buckets.len())
            .sum();
        assert_eq!(len, limiter.tracked());
        // A recent key survived the evictions: the least recently used went first.
        let last = IpAddr::V4(Ipv4Addr::from(99_999u32));
        let shard = limiter.shards.lock(limiter.shards.index(&last));
        assert!(shard.buckets.contains_key(&last));
    }
}
