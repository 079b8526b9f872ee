//! Flood control: beyond a number of new tickets per sender per hour, further messages are
//! still stored, as replies in the sender's newest ticket, without an acknowledgement.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct FloodGuard {
    limiter: DefaultKeyedRateLimiter<String>,
    per_hour: u32,
}

impl FloodGuard {
    /// `None` when the limit is 0 (no flood control).
    pub fn new(new_tickets_per_hour: u32) -> Option<Self> {
        let per_hour = NonZeroU32::new(new_tickets_per_hour)?;
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_hour(per_hour)),
            per_hour: per_hour.get(),
        })
    }

    /// True when `sender` may open another ticket now (and counts it).
    pub fn allow_new_ticket(&self, sender: &str) -> bool {
        self.limiter.check_key(&sender.to_string()).is_ok()
    }

    pub fn per_hour(&self) -> u32 {
        self.per_hour
    }
}

#[cfg(test)]
mod tests {
    use super::FloodGuard;

    #[test]
    fn the_limit_applies_per_sender() {
        let guard = FloodGuard::new(3).expect("a limit");
        assert!((0..3).all(|_| guard.allow_new_ticket("a@example.com")));
        assert!(!guard.allow_new_ticket("a@example.com"));
        assert!(guard.allow_new_ticket("b@example.com"));
        assert!(FloodGuard::new(0).is_none());
    }
}
