//! Rate limits of the inbound SMS webhooks: per sender phone number for accepted requests, and
//! per client address for requests that fail authentication (a provider sends everything from
//! a few addresses, so those are not limited while they authenticate).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::contact::PhoneNumber;

/// After this many checks, keys whose buckets are full again are dropped, so a flood of
/// distinct numbers or addresses does not grow memory without bound.
const CHECKS_BETWEEN_CLEANUPS: u32 = 4096;

pub struct InboundLimits {
    per_sender: DefaultKeyedRateLimiter<PhoneNumber>,
    /// `None` is every client whose address the server does not know, in one bucket.
    unauthenticated_per_address: DefaultKeyedRateLimiter<Option<IpAddr>>,
    checks_since_cleanup: AtomicU32,
}

/// Over a limit; the caller may try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    pub retry_after: Duration,
}

impl InboundLimits {
    /// Limits per minute; 0 is taken as 1 (a limit cannot stop everything).
    pub fn new(per_sender_per_minute: u32, unauthenticated_per_address_per_minute: u32) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_sender: RateLimiter::keyed(per_minute(per_sender_per_minute)),
            unauthenticated_per_address: RateLimiter::keyed(per_minute(
                unauthenticated_per_address_per_minute,
            )),
            checks_since_cleanup: AtomicU32::new(0),
        }
    }

    /// Counts one message from `sender`.
    pub fn admit_sender(&self, sender: &PhoneNumber) -> Result<(), OverLimit> {
        self.tidy();
        check(&self.per_sender, sender)
    }

    /// Counts one request from `address` that failed authentication.
    pub fn admit_unauthenticated(&self, address: Option<IpAddr>) -> Result<(), OverLimit> {
        self.tidy();
        check(&self.unauthenticated_per_address, &address)
    }

    fn tidy(&self) {
        if self.checks_since_cleanup.fetch_add(1, Ordering::Relaxed) + 1 < CHECKS_BETWEEN_CLEANUPS {
            return;
        }
        self.checks_since_cleanup.store(0, Ordering::Relaxed);
        self.per_sender.retain_recent();
        self.per_sender.shrink_to_fit();
        self.unauthenticated_per_address.retain_recent();
        self.unauthenticated_per_address.shrink_to_fit();
    }
}

fn check<K>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), OverLimit>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter.check_key(key).map_err(|not_until| OverLimit {
        retry_after: not_until.wait_time_from(limiter.clock().now()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sender_has_its_own_budget() {
        let limits = InboundLimits::new(2, 1);
        let ali = PhoneNumber::parse("09121234567", "IR").expect("phone");
        let sara = PhoneNumber::parse("09351112233", "IR").expect("phone");
        assert!(limits.admit_sender(&ali).is_ok());
        assert!(limits.admit_sender(&ali).is_ok());
        let over = limits.admit_sender(&ali).expect_err("third in a minute");
        assert!(over.retry_after > Duration::ZERO);
        assert!(limits.admit_sender(&sara).is_ok());
    }

    #[test]
    fn failed_authentications_are_counted_per_address() {
        let limits = InboundLimits::new(30, 1);
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let two: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limits.admit_unauthenticated(Some(one)).is_ok());
        assert!(limits.admit_unauthenticated(Some(one)).is_err());
        assert!(limits.admit_unauthenticated(Some(two)).is_ok());
        assert!(limits.admit_unauthenticated(None).is_ok());
    }
}
