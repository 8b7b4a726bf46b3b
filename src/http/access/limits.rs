//! Rate limits of the API (governor's keyed limiters): requests per client address and per token
//! (CCM_RATE_LIMIT), and failed authentications per address (CCM_AUTH_FAILURE_LIMIT), past which
//! the address is answered 429 before its token is even looked at.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A rate: `count` per `per` (`600/min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Per,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    Hour,
}

impl Rate {
    /// `N/sec`, `N/min` or `N/hour` (also `s`, `m`, `h`, `second`, `minute`); `off` is `None`.
    pub fn parse_setting(text: &str) -> Result<Option<Rate>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let err = || format!("'{text}' is not a rate: N/sec, N/min or N/hour (N from 1 to 1000000), or off");
        let (count, per) = text.split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        let count = NonZeroU32::new(count).filter(|n| n.get() <= 1_000_000).ok_or_else(err)?;
        let per = match per.trim() {
            "s" | "sec" | "second" => Per::Second,
            "m" | "min" | "minute" => Per::Minute,
            "h" | "hour" => Per::Hour,
            _ => return Err(err()),
        };
        Ok(Some(Rate { count, per }))
    }

    /// `count` at once, then one more every `per / count`.
    fn quota(self) -> Quota {
        match self.per {
            Per::Second => Quota::per_second(self.count),
            Per::Minute => Quota::per_minute(self.count),
            Per::Hour => Quota::per_hour(self.count),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = match self.per {
            Per::Second => "sec",
            Per::Minute => "min",
            Per::Hour => "hour",
        };
        write!(f, "{}/{per}", self.count)
    }
}

/// The limiters of one process (each replica counts on its own).
pub struct Limits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_token: Option<DefaultKeyedRateLimiter<String>>,
    failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses past their failed-authentication limit, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

impl Limits {
    pub fn new(requests: Option<Rate>, failures: Option<Rate>) -> Self {
        Limits {
            per_address: requests.map(|r| RateLimiter::keyed(r.quota())),
            per_token: requests.map(|r| RateLimiter::keyed(r.quota())),
            failures: failures.map(|r| RateLimiter::keyed(r.quota())),
            blocked: Mutex::default(),
            clock: DefaultClock::default(),
        }
    }

    /// One request from `address`: `Err` with the wait when it is over its rate.
    pub fn address(&self, address: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.per_address else { return Ok(()) };
        limiter.check_key(&address).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// One request with the token known as `actor`: `Err` with the wait when it is over its rate.
    pub fn token(&self, actor: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.per_token else { return Ok(()) };
        limiter.check_key(&actor.to_string()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// How long `address` stays refused for its failed authentications, if it is.
    pub fn blocked(&self, address: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let blocked = self.blocked.lock().expect("blocked addresses");
        blocked.get(&address).and_then(|until| until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// A failed authentication from `address`: `Some(wait)` when that was one too many (the
    /// address is then refused for `wait`).
    pub fn failed(&self, address: IpAddr) -> Option<Duration> {
        let limiter = self.failures.as_ref()?;
        let wait = limiter.check_key(&address).err()?.wait_time_from(self.clock.now());
        self.blocked.lock().expect("blocked addresses").insert(address, Instant::now() + wait);
        Some(wait)
    }

    /// Forgets the keys whose limits are back to full, and the blocks that ended: memory stays
    /// bounded by the callers of the last minutes.
    pub fn forget_idle(&self) {
        for limiter in [&self.per_address, &self.failures].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_token {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked.lock().expect("blocked addresses").retain(|_, until| *until > now);
    }
}

/// `Retry-After` for a wait: whole seconds, at least 1.
pub fn retry_after(wait: Duration) -> u32 {
    (wait.as_secs_f64().ceil() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let rate = Rate::parse_setting("600/min").unwrap().unwrap();
        assert_eq!((rate.count.get(), rate.per), (600, Per::Minute));
        assert_eq!(rate.to_string(), "600/min");
        assert_eq!(Rate::parse_setting(" 5 / sec ").unwrap().unwrap().per, Per::Second);
        assert_eq!(Rate::parse_setting("OFF").unwrap(), None);
        for bad in ["", "600", "0/min", "-1/min", "10/day", "x/min", "2000000/sec"] {
            assert!(Rate::parse_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_each_key_on_its_own() {
        let rate = Rate::parse_setting("2/min").unwrap();
        let limits = Limits::new(rate, rate);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.address(a).is_ok() && limits.address(a).is_ok());
        let wait = limits.address(a).unwrap_err();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_after(wait), 30);
        assert!(limits.address(b).is_ok());
        assert!(limits.token("token:a").is_ok() && limits.token("token:a").is_ok() && limits.token("token:a").is_err());

        assert_eq!(limits.blocked(a), None);
        assert_eq!((limits.failed(a), limits.failed(a)), (None, None));
        assert!(limits.failed(a).is_some());
        assert!(limits.blocked(a).is_some() && limits.blocked(b).is_none());
        limits.forget_idle();
        assert!(limits.blocked(a).is_some());
        let off = Limits::new(None, None);
        assert!((0..100).all(|_| off.address(a).is_ok() && off.failed(a).is_none()));
    }
}
