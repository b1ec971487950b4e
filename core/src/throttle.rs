//! Logging a repeated failure sparingly: [`Throttle`] lets one event through per period and
//! counts the ones it held back, for the gateway's accept loop, its access-log writer and the
//! admin listener of `portway serve`.

use std::time::{Duration, Instant};

/// Lets a repeated event through at most once per period, counting the ones it held back.
///
/// ```
/// use std::time::Duration;
/// let mut failures = portway::Throttle::new(Duration::from_secs(1));
/// assert_eq!(failures.hit(), Some(0)); // the first one is logged
/// assert_eq!(failures.hit(), None); // the next ones in the same second are counted
/// assert_eq!(failures.held_back(), 1);
/// ```
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// A throttle that lets one event through per `every`.
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// One more event: `Some(n)` to log it, `n` being how many were held back since the
    /// last one logged; `None` to stay quiet.
    pub fn hit(&mut self) -> Option<u64> {
        self.hit_at(Instant::now())
    }

    /// [`Throttle::hit`] at a given instant.
    pub fn hit_at(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }

    /// How many events were held back since the last one let through.
    pub fn held_back(&self) -> u64 {
        self.held_back
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_through_per_period() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(t.hit_at(start), Some(0));
        for ms in [1, 100, 9_999] {
            assert_eq!(t.hit_at(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(t.held_back(), 3);
        assert_eq!(t.hit_at(start + Duration::from_secs(10)), Some(3));
        assert_eq!(t.held_back(), 0);
        assert_eq!(t.hit_at(start + Duration::from_secs(11)), None);
        assert_eq!(t.hit_at(start + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn a_burst_of_a_thousand_in_one_period_logs_once() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let start = Instant::now();
        let logged = (0..1000)
            .filter(|i| t.hit_at(start + Duration::from_micros(i * 900)).is_some())
            .count();
        assert_eq!(logged, 1);
        assert_eq!(t.hit_at(start + Duration::from_secs(1)), Some(999));
    }

    #[test]
    fn an_instant_before_the_last_one_is_held_back() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let start = Instant::now() + Duration::from_secs(5);
        assert_eq!(t.hit_at(start), Some(0));
        assert_eq!(t.hit_at(start - Duration::from_secs(2)), None);
    }
}
