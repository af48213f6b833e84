//! Token-bucket rate limits per tenant: a bucket holds up to `burst` tokens and refills
//! at `rate` per second; a request takes as many tokens as it carries samples (or
//! bytes), or is refused whole and told how long until it would fit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pitot_core::TenantId;

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKind {
    /// Metric samples.
    Samples,
    /// Log line bytes.
    LogBytes,
}

/// The answer of a rate check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateDecision {
    /// Within the rate; the tokens were taken.
    Allowed,
    /// Over the rate; nothing was taken. Retry after this long (at least a second).
    Limited {
        /// When the request would fit, if nothing else is sent meanwhile.
        retry_after: Duration,
    },
    /// Larger than the whole bucket: it can never fit, however long the client waits,
    /// so it must not be told to retry; nothing was taken.
    TooLarge,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One token bucket per tenant and kind, created full on first use.
#[derive(Debug, Default)]
pub struct RateLimiters {
    buckets: Mutex<HashMap<(TenantId, RateKind), Bucket>>,
}

impl RateLimiters {
    /// Takes `n` tokens from `tenant`'s bucket of `kind` if it holds them, refilling at
    /// `rate` per second up to `burst`. A rate of zero or less disables the limit.
    pub fn check(
        &self,
        tenant: &TenantId,
        kind: RateKind,
        rate: f64,
        burst: f64,
        n: u64,
        now: Instant,
    ) -> RateDecision {
        if rate <= 0.0 || n == 0 {
            return RateDecision::Allowed;
        }
        let burst = burst.max(rate.min(1.0));
        let n = n as f64;
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry((tenant.clone(), kind)).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if n <= bucket.tokens {
            bucket.tokens -= n;
            return RateDecision::Allowed;
        }
        if n > burst {
            return RateDecision::TooLarge;
        }
        let wait = ((n - bucket.tokens) / rate).max(1.0);
        RateDecision::Limited {
            retry_after: Duration::from_secs_f64(wait.ceil()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let l = RateLimiters::default();
        let t = TenantId::new("t").unwrap();
        let other = TenantId::new("u").unwrap();
        let t0 = Instant::now();
        let check = |tenant: &TenantId, n, at: Duration| {
            l.check(tenant, RateKind::Samples, 100.0, 1000.0, n, t0 + at)
        };
        assert_eq!(check(&t, 1000, Duration::ZERO), RateDecision::Allowed);
        assert_eq!(
            check(&t, 1, Duration::ZERO),
            RateDecision::Limited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            check(&other, 1000, Duration::ZERO),
            RateDecision::Allowed,
            "tenants apart"
        );
        // 2 s later: 200 tokens.
        assert_eq!(
            check(&t, 200, Duration::from_secs(2)),
            RateDecision::Allowed
        );
        assert_eq!(
            check(&t, 500, Duration::from_secs(2)),
            RateDecision::Limited {
                retry_after: Duration::from_secs(5)
            }
        );
        // Bigger than the burst never fits, and is not told to retry.
        assert_eq!(
            check(&t, 5000, Duration::from_secs(100)),
            RateDecision::TooLarge
        );
        assert_eq!(
            l.check(&t, RateKind::LogBytes, 0.0, 0.0, u64::MAX, t0),
            RateDecision::Allowed,
            "zero rate disables"
        );
    }
}
