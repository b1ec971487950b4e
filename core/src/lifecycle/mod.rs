//! Sandbox lifecycle: the activity the gateways see ([`activity`]), the events a platform
//! acts on ([`events`]: `idle`, and the registry's changes), and waking a stopped sandbox
//! on request ([`WakeHook`], run by the gateway's wake phase).
//!
//! `Lifecycle` is one per Portway, shared by its registry (which hands each route its
//! port's counters and reports every change of a sandbox here) and its gateways (which
//! count on those counters and run the wakes). Activity is this process's: it is never
//! written to the store.

pub mod activity;
pub mod events;
pub(crate) mod wake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

pub use self::activity::{ActivityCounts, PortActivity, SandboxActivity};
pub use self::events::{EVENT_BUFFER, EventKind, EventStream, LifecycleEvent};
pub use self::wake::{WakeHook, WakeRequest};

pub(crate) use self::activity::{OpenGuard, PortCounters, SandboxCounters};
pub(crate) use self::wake::{WakeOutcome, Wakes};

use crate::store::SandboxStatus;

/// What the events are derived from: a sandbox's status and exposed ports (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub status: SandboxStatus,
    pub ports: Vec<u16>,
}

#[derive(Debug)]
struct Slot {
    counters: Arc<SandboxCounters>,
    ports: HashMap<u16, Arc<PortCounters>>,
}

/// One Portway's activity counters, event channel and wakes in progress.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    sandboxes: Mutex<HashMap<Arc<str>, Slot>>,
    events: broadcast::Sender<LifecycleEvent>,
    /// The global `idle_after` in milliseconds (0: off).
    idle_after_ms: AtomicU64,
    websockets_keep_active: AtomicBool,
    /// Whether the thread that fires `idle` runs.
    watching: AtomicBool,
    /// Wakes in progress, one per sandbox.
    pub wakes: Wakes,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            sandboxes: Mutex::default(),
            events: broadcast::channel(EVENT_BUFFER).0,
            idle_after_ms: AtomicU64::new(0),
            websockets_keep_active: AtomicBool::new(false),
            watching: AtomicBool::new(false),
            wakes: Wakes::default(),
        }
    }
}

impl Lifecycle {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Slot>> {
        self.sandboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn slot<'a>(map: &'a mut HashMap<Arc<str>, Slot>, id: &Arc<str>) -> &'a mut Slot {
        map.entry(id.clone()).or_insert_with(|| Slot {
            counters: Arc::new(SandboxCounters::new(id.clone())),
            ports: HashMap::new(),
        })
    }

    /// The counters of port `port` of sandbox `id`, made if new (when its route is).
    pub fn port(&self, id: &Arc<str>, port: u16) -> Arc<PortCounters> {
        let mut map = self.lock();
        let slot = Self::slot(&mut map, id);
        let sandbox = slot.counters.clone();
        slot.ports
            .entry(port)
            .or_insert_with(|| Arc::new(PortCounters::new(port, sandbox)))
            .clone()
    }

    /// A port's route is gone: its counters are no longer reported (requests in flight
    /// keep theirs until they end).
    pub fn remove_port(&self, id: &str, port: u16) {
        if let Some(slot) = self.lock().get_mut(id) {
            slot.ports.remove(&port);
        }
    }

    /// Sets the global settings (from the gateway configuration) and starts watching for
    /// idle sandboxes if `idle_after` is set.
    pub fn configure(self: &Arc<Self>, idle_after: Duration, websockets_keep_active: bool) {
        self.idle_after_ms
            .store(idle_after.as_millis() as u64, Relaxed);
        self.websockets_keep_active
            .store(websockets_keep_active, Relaxed);
        if !idle_after.is_zero() {
            self.watch_idle();
        }
    }

    /// Sets one sandbox's `idle_after` (`None`: the global setting; zero: never idle).
    pub fn set_idle_after(self: &Arc<Self>, id: &Arc<str>, idle_after: Option<Duration>) {
        Self::slot(&mut self.lock(), id)
            .counters
            .set_idle_after(idle_after);
        if idle_after.is_some_and(|d| !d.is_zero()) {
            self.watch_idle();
        }
    }

    /// A sandbox's own `idle_after`, if it has one.
    pub fn idle_after_of(&self, id: &str) -> Option<Duration> {
        self.lock().get(id)?.counters.own_idle_after()
    }

    /// A sandbox's activity; `None` if this process does not know it.
    pub fn activity(&self, id: &str) -> Option<SandboxActivity> {
        let map = self.lock();
        let slot = map.get(id)?;
        let mut ports: Vec<PortActivity> = slot.ports.values().map(|p| p.snapshot()).collect();
        ports.sort_by_key(|p| p.port);
        Some(SandboxActivity {
            sandbox_id: id.to_owned(),
            total: slot.counters.snapshot(),
            ports,
        })
    }

    /// How many sandboxes have requests or WebSocket sessions open now.
    pub fn active_sandboxes(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| s.counters.snapshot().open_connections > 0)
            .count()
    }

    /// A new subscription to the events.
    pub fn subscribe(&self) -> EventStream {
        EventStream::new(self.events.subscribe())
    }

    fn emit(&self, kind: EventKind, id: &str, port: Option<u16>) {
        // No subscriber: nobody to tell.
        let _ = self.events.send(LifecycleEvent::new(kind, id, port));
    }

    /// A sandbox changed in the registry (`before` and `after` are its status and ports,
    /// `None` when it does not exist): its events, and its counters kept in step.
    pub fn changed(&self, id: &str, before: Option<&Summary>, after: Option<&Summary>) {
        if before == after {
            return;
        }
        if let Some(after) = after {
            // Both lists are sorted (the registry keeps ports in order): one merge.
            let old = before.map_or(&[][..], |s| &s.ports[..]);
            let (mut i, mut j) = (0, 0);
            while i < old.len() || j < after.ports.len() {
                match (old.get(i), after.ports.get(j)) {
                    (Some(a), Some(b)) if a == b => (i, j) = (i + 1, j + 1),
                    (Some(a), Some(b)) if a < b => {
                        self.emit(EventKind::Unexposed, id, Some(*a));
                        i += 1;
                    }
                    (Some(a), None) => {
                        self.emit(EventKind::Unexposed, id, Some(*a));
                        i += 1;
                    }
                    (_, Some(b)) => {
                        self.emit(EventKind::Exposed, id, Some(*b));
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
        }
        match (before.map(|s| s.status), after.map(|s| s.status)) {
            (_, None) => {
                self.lock().remove(id);
                if before.is_some() {
                    self.emit(EventKind::Destroyed, id, None);
                }
            }
            (old, Some(new)) => {
                let id: Arc<str> = id.into();
                let counters = Self::slot(&mut self.lock(), &id).counters.clone();
                let running = new == SandboxStatus::Running;
                counters.running.store(running, Relaxed);
                if old.unwrap_or(SandboxStatus::Running) != new {
                    if running {
                        counters.restart_idle_period();
                    }
                    let kind = if running {
                        EventKind::Running
                    } else {
                        EventKind::Stopped
                    };
                    self.emit(kind, &id, None);
                }
            }
        }
    }

    /// Starts the thread that fires `idle` events, once. It looks at every sandbox a few
    /// times per `idle_after` (at most once a second, at least every 10 ms) and ends when
    /// the Portway is dropped.
    fn watch_idle(self: &Arc<Self>) {
        if self.watching.swap(true, Relaxed) {
            return;
        }
        let weak: Weak<Lifecycle> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("portway-idle".into())
            .spawn(move || {
                loop {
                    let Some(lifecycle) = weak.upgrade() else {
                        return;
                    };
                    let pause = lifecycle.fire_idle();
                    drop(lifecycle);
                    std::thread::sleep(pause);
                }
            });
        if let Err(e) = spawned {
            self.watching.store(false, Relaxed);
            tracing::error!(error = %e, "could not start watching for idle sandboxes");
        }
    }

    /// Fires `idle` for each sandbox that went idle; how long to wait before looking again.
    fn fire_idle(&self) -> Duration {
        let global = Duration::from_millis(self.idle_after_ms.load(Relaxed));
        let keep = self.websockets_keep_active.load(Relaxed);
        let now = activity::now_ms();
        let mut shortest = global;
        let mut idle = Vec::new();
        for slot in self.lock().values() {
            let own = slot.counters.own_idle_after();
            if let Some(own) = own.filter(|d| !d.is_zero())
                && (shortest.is_zero() || own < shortest)
            {
                shortest = own;
            }
            if slot.counters.take_idle(now, global, keep) {
                idle.push(slot.counters.id.clone());
            }
        }
        for id in idle {
            tracing::debug!(sandbox = %id, "sandbox idle");
            self.emit(EventKind::Idle, &id, None);
        }
        if shortest.is_zero() {
            return Duration::from_secs(1);
        }
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}
