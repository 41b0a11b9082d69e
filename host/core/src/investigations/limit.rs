//! How often Guardian diagnoses for alerts: a token bucket (the config's
//! `rate_limit_per_minute`, refilled evenly), and whether a firing alert
//! whose fingerprint already has an open investigation is diagnosed again
//! (only past the dedup window).

use std::time::{Duration, Instant};

/// A token bucket: `per_minute` diagnoses a minute, as a burst of at most
/// `per_minute`.
#[derive(Debug)]
pub struct RateLimit {
    per_minute: u32,
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            per_minute: per_minute.max(1),
            tokens: f64::from(per_minute.max(1)),
            at: now,
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn refill(&mut self, now: Instant) {
        let rate = f64::from(self.per_minute) / 60.0;
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + gained).min(f64::from(self.per_minute));
        self.at = now;
    }

    /// The tokens there now (diagnoses that may start at once).
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let rate = f64::from(self.per_minute) / 60.0;
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// What becomes of a firing alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dedup {
    /// No open investigation for its fingerprint: a new one.
    New,
    /// An open one, diagnosed (or queued) within the window: the record is
    /// updated, nothing is diagnosed.
    Duplicate(String),
    /// An open one whose last diagnosis is older than the window: diagnosed
    /// again.
    Again(String),
}

/// `open`: the open investigation of the fingerprint and how long ago it
/// was last diagnosed or queued.
pub fn dedup(open: Option<(String, Duration)>, window: Duration) -> Dedup {
    match open {
        None => Dedup::New,
        Some((id, age)) if age < window => Dedup::Duplicate(id),
        Some((id, _)) => Dedup::Again(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(60, t0);
        for i in 0..60 {
            assert!(r.take(t0).is_ok(), "token {i}");
        }
        let wait = r.take(t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        // One a second comes back.
        assert!(r.take(t0 + Duration::from_millis(1000)).is_ok());
        assert!(r.take(t0 + Duration::from_millis(1000)).is_err());
        // Never more than the burst.
        let later = t0 + Duration::from_secs(3600);
        let taken = (0..200).filter(|_| r.take(later).is_ok()).count();
        assert_eq!(taken, 60);
    }

    #[test]
    fn duplicates_within_the_window_are_not_diagnosed_again() {
        let w = Duration::from_secs(300);
        assert_eq!(dedup(None, w), Dedup::New);
        assert_eq!(
            dedup(Some(("inv-a".into(), Duration::from_secs(10))), w),
            Dedup::Duplicate("inv-a".into())
        );
        assert_eq!(
            dedup(Some(("inv-a".into(), Duration::from_secs(301))), w),
            Dedup::Again("inv-a".into())
        );
    }
}
