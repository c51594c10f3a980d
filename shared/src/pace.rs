//! Request rates that S3 accepts: each worker process paces its S3 calls per action at its share
//! of a stack-wide rate (the rate divided by the most concurrent worker invocations), so that all
//! of them together stay under S3's limits (3,500 COPY/PUT/DELETE per second per prefix, about
//! 1,000 RestoreObject per second per account) without any shared counter.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Calls spaced evenly at a rate, within one process.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// None for a rate that is not positive (no pacing).
    pub fn per_second(rate: f64) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then(|| Pace { interval: Duration::from_secs_f64(1.0 / rate), next: Mutex::new(None) })
    }

    /// Waits for the slot of `n` calls: at most one call per interval, however many ask at once.
    pub async fn take(&self, n: u32) {
        let wait = {
            let mut next = self.next.lock().expect("pace lock");
            let now = Instant::now();
            let start = next.map_or(now, |t| t.max(now));
            *next = Some(start + self.interval * n);
            start - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The worker's paces, by action: copies (single copies and parts), restores, deletes (each
/// key of a DeleteObjects counts).
#[derive(Debug, Default)]
pub struct Paces {
    pub copy: Option<Pace>,
    pub restore: Option<Pace>,
    pub delete: Option<Pace>,
}

impl Paces {
    /// Each process's share of the stack-wide rates.
    pub fn share(rates: &crate::config::Rates) -> Self {
        let share = |rate: u32| Pace::per_second(f64::from(rate) / f64::from(rates.worker_max_concurrency.max(1)));
        Paces { copy: share(rates.copy_per_second), restore: share(rates.restore_per_second), delete: share(rates.delete_per_second) }
    }

    pub async fn take(pace: &Option<Pace>, n: u32) {
        if let Some(p) = pace {
            p.take(n).await;
        }
    }
}

/// 50 ms doubled per attempt, capped at 5 s, with full jitter (AWS's recommended backoff).
pub fn jittered_backoff(attempt: u32) -> std::time::Duration {
    let cap = std::time::Duration::from_millis(50u64 << attempt.min(7)).min(std::time::Duration::from_secs(5));
    // The clock's nanoseconds are jitter enough to spread concurrent retries apart.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    cap.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_at_the_rate_however_many_ask_at_once() {
        let pace = Pace::per_second(10.0).unwrap();
        let start = tokio::time::Instant::now();
        futures::future::join_all((0..5).map(|_| pace.take(1))).await;
        // five calls at 10 a second: the last waits for the fifth slot, 400 ms after the first
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(390) && took < Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn a_rate_that_is_not_positive_paces_nothing() {
        assert!(Pace::per_second(0.0).is_none());
        assert!(Pace::per_second(-1.0).is_none());
        assert!(Pace::per_second(f64::NAN).is_none());
    }
}
