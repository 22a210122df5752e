//! Per-authority state: each authority's budget and gate, in a bounded
//! table shared by every clone of a policy.
//!
//! A request finds its authority's state through the calling service's
//! cache (one comparison of the scheme and authority, no lock, no
//! allocation) and, on a miss, through the table (a read lock and a hash
//! lookup of the normalized name, built on the stack). Only a new authority
//! takes the write lock and allocates.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock, TryLockError};

use http::uri::Scheme;

use crate::admission::budget::{BudgetScope, BudgetState, RetryBudget};
use crate::admission::gate::Gate;
use crate::backoff::Backoff;
use crate::observe::counters::Counters;
use crate::observe::stats::{AuthorityStats, RetryCounts};
use crate::request::CloneRequest;

/// The retry state of one authority (or of every request, for a shared
/// budget).
pub(crate) struct AuthorityState {
    pub(crate) budget: BudgetState,
    pub(crate) gate: Gate,
    /// What its requests went through.
    pub(crate) counters: Counters,
    // The spelling this state was first found under, which a service's
    // cache compares exactly.
    scheme_tag: SchemeTag,
    scheme: Box<str>,
    authority: Box<str>,
}

impl AuthorityState {
    /// The state of `key`, counting in `counters`.
    fn new(
        settings: &Settings,
        key: &str,
        scheme: &str,
        authority: &str,
        counters: Counters,
    ) -> Self {
        // Each authority's gate draws its own deterministic sequence.
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        Self {
            budget: BudgetState::new(settings.budget),
            gate: Gate::new(
                settings.probe_base,
                settings.probe_cap,
                settings.budget.max_waiting,
                settings.seed ^ hasher.finish(),
            ),
            // The overflow (and shared) state is built with key "": no
            // request's spelling may match it in a service's cache.
            scheme_tag: if key.is_empty() {
                SchemeTag::Never
            } else {
                SchemeTag::of(scheme)
            },
            scheme: scheme.into(),
            authority: authority.into(),
            counters,
        }
    }

    /// Its counts now, with its budget's balance and its waiting retries.
    pub(crate) fn counts(&self) -> RetryCounts {
        let mut counts = self.counters.read();
        counts.waiting = self.gate.waiting() as u64;
        counts.budget_balance = Some(self.budget.balance());
        counts
    }

    /// How the stats name it: its key (`scheme://host:port`, lowercase,
    /// the default port explicit, never the user information a URI may
    /// carry, as the metrics label it), or `""` if the requests name
    /// neither.
    fn label(&self) -> String {
        match (&*self.scheme, &*self.authority) {
            ("", "") => String::new(),
            (scheme, authority) => KeyBuffer::new().key(scheme, authority).to_owned(),
        }
    }

    /// Whether this is the state a request to `scheme` and `authority`,
    /// spelled exactly so, found before. (A state some service still
    /// caches is never evicted, so a cached state is the table's; the
    /// overflow state matches no spelling, so it is looked up each time.)
    ///
    /// The happy path's one comparison: `http` and `https` are told apart
    /// by a tag (a comparison with a constant is one word compare), and an
    /// authority of up to 32 bytes in two overlapping word loads per side,
    /// not by `memcmp`.
    #[inline]
    pub(crate) fn is_for(&self, scheme: &str, authority: &str) -> bool {
        let tag = SchemeTag::of(scheme);
        tag == self.scheme_tag
            && (tag != SchemeTag::Other || *self.scheme == *scheme)
            && same_bytes(self.authority.as_bytes(), authority.as_bytes())
    }

    /// A request to the authority, sent while its gate was limited, was
    /// answered: the waiting retries may go.
    pub(crate) fn answered(&self) {
        self.gate.answered(|| self.budget.first_release_rate());
    }

    /// Whether nothing but the table refers to it and no request waits.
    fn is_idle(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) == 1 && self.gate.waiting() == 0
    }
}

impl fmt::Debug for AuthorityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityState")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("budget", &self.budget)
            .field("gate", &self.gate)
            .finish()
    }
}

/// What every authority's state is made from.
#[derive(Clone, Copy, Debug)]
struct Settings {
    budget: RetryBudget,
    // The gate probes a failing authority at the policy's backoff.
    probe_base: std::time::Duration,
    probe_cap: std::time::Duration,
    seed: u64,
}

/// The states of a policy's authorities.
pub(crate) enum Scopes {
    /// One state for every request.
    Shared(Arc<AuthorityState>),
    /// One state per authority, at most `max_authorities` of them.
    PerAuthority(Authorities),
}

impl Scopes {
    /// The states for `budget`; the gates probe a failing authority at
    /// `backoff` (the policy's); they draw their randomness from `seed`.
    pub(crate) fn new(budget: RetryBudget, backoff: &Backoff, seed: u64) -> Self {
        Self::named(budget, backoff, seed, None)
    }

    /// The states for `budget` of the policy named `policy`: their counts
    /// are published under its name.
    pub(crate) fn named(
        budget: RetryBudget,
        backoff: &Backoff,
        seed: u64,
        policy: Option<&str>,
    ) -> Self {
        let settings = Settings {
            budget,
            probe_base: backoff.base(),
            probe_cap: backoff.cap(),
            seed,
        };
        match budget.scope {
            BudgetScope::Shared => Scopes::Shared(Arc::new(AuthorityState::new(
                &settings,
                "",
                "",
                "",
                Counters::published(policy, None),
            ))),
            BudgetScope::PerAuthority => Scopes::PerAuthority(Authorities {
                table: RwLock::new(HashMap::new()),
                overflow: Arc::new(AuthorityState::new(
                    &settings,
                    "",
                    "",
                    "",
                    Counters::published(policy, Some("(overflow)")),
                )),
                retired: Box::default(),
                settings,
                policy: policy.map(Arc::from),
                #[cfg(feature = "metrics")]
                labelled: Default::default(),
            }),
        }
    }

    /// The state of the authority `request` goes to.
    pub(crate) fn state_of<Req: CloneRequest>(&self, request: &Req) -> Arc<AuthorityState> {
        match self {
            Scopes::Shared(state) => Arc::clone(state),
            Scopes::PerAuthority(authorities) => {
                let (scheme, authority) = name_of(request);
                authorities.state(scheme, authority)
            }
        }
    }

    /// Counts one request of `request`'s authority, through `cache`: the
    /// state the calling service found last. True if the authority's
    /// connects are failing.
    #[inline]
    pub(crate) fn deposit<Req: CloneRequest>(
        &self,
        request: &Req,
        cache: &mut Option<Arc<AuthorityState>>,
    ) -> bool {
        let state = match self {
            Scopes::Shared(state) => state,
            Scopes::PerAuthority(authorities) => {
                let (scheme, authority) = name_of(request);
                match cache {
                    Some(state) if state.is_for(scheme, authority) => state,
                    _ => cache.insert(authorities.state(scheme, authority)),
                }
            }
        };
        state.budget.deposit();
        state.counters.request();
        state.gate.is_limited()
    }

    /// The counts of every request through these states (`retired` holds
    /// the policy's own), and of each tracked authority.
    pub(crate) fn stats(&self, total: &mut RetryCounts, each: &mut Vec<AuthorityStats>) {
        match self {
            Scopes::Shared(state) => {
                *total += state.counts();
                total.budget_balance = Some(state.budget.balance());
            }
            Scopes::PerAuthority(authorities) => {
                // The forgotten authorities' counts are read under the
                // table's lock, as they move there under it: read before
                // it, an authority forgotten in between would be in
                // neither, and the total would go back.
                let table = authorities
                    .table
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                *total += authorities.retired.read();
                each.reserve(table.len() + 1);
                for state in table.values() {
                    let counts = state.counts();
                    *total += counts;
                    each.push(authority_stats(state.label(), counts));
                }
                // Always in the total: a request counted in a state
                // forgotten while it was in flight retries through the
                // overflow state, which then counts retries and give-ups
                // but no request.
                let overflow = authorities.overflow.counts();
                *total += overflow;
                let counted = RetryCounts {
                    budget_balance: None,
                    ..overflow
                };
                if counted != RetryCounts::default() {
                    each.push(authority_stats("(overflow)".to_owned(), overflow));
                }
                drop(table);
                each.sort_by(|a, b| a.authority.cmp(&b.authority));
            }
        }
    }

    /// Authorities tracked now (1 for a shared scope).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Scopes::Shared(_) => 1,
            Scopes::PerAuthority(authorities) => authorities.table.read().map_or(0, |t| t.len()),
        }
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scopes::Shared(state) => f.debug_tuple("Shared").field(state).finish(),
            Scopes::PerAuthority(authorities) => f
                .debug_struct("PerAuthority")
                .field(
                    "authorities",
                    &authorities.table.read().map_or(0, |t| t.len()),
                )
                .finish_non_exhaustive(),
        }
    }
}

fn authority_stats(authority: String, counts: RetryCounts) -> AuthorityStats {
    AuthorityStats { authority, counts }
}

/// The scheme and authority a request goes to, as spelled; empty when it
/// names none.
#[inline]
fn name_of<Req: CloneRequest>(request: &Req) -> (&str, &str) {
    (
        request.scheme().map_or("", Scheme::as_str),
        request
            .authority()
            .map_or("", |authority| authority.as_str()),
    )
}

/// The bounded table of per-authority states.
pub(crate) struct Authorities {
    table: RwLock<HashMap<Box<str>, Arc<AuthorityState>>>,
    // Shared by the authorities that find the table full of busy ones.
    overflow: Arc<AuthorityState>,
    // The counts of the authorities forgotten to make room.
    retired: Box<Counters>,
    settings: Settings,
    // The policy's name, which its authorities' counts are published under.
    policy: Option<Arc<str>>,
    // The `authority` label values published so far: at most
    // `max_authorities`, as a recorder keeps every series it was given.
    #[cfg(feature = "metrics")]
    // (Boxed: it is touched only as a state is made.)
    labelled: Box<std::sync::Mutex<std::collections::HashSet<Box<str>>>>,
}

impl Authorities {
    /// The `authority` label of a new state for `key`: the key, if it was
    /// labelled before or fewer than `max_authorities` keys were;
    /// `(overflow)` otherwise. The table forgets idle authorities to make
    /// room, but a recorder keeps their series: without this bound, a
    /// policy whose authorities come from user input would add a series
    /// per authority for as long as it runs. Taken only as a state is
    /// made, under the table's write lock.
    #[cfg(feature = "metrics")]
    fn label_of<'k>(&self, key: &'k str) -> &'k str {
        let mut labelled = self
            .labelled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if labelled.contains(key) {
            key
        } else if labelled.len() < self.settings.budget.max_authorities {
            labelled.insert(key.into());
            key
        } else {
            "(overflow)"
        }
    }

    fn state(&self, scheme: &str, authority: &str) -> Arc<AuthorityState> {
        let mut buffer = KeyBuffer::new();
        let key = buffer.key(scheme, authority);
        // A poisoned lock only means a panic elsewhere while it was held;
        // the table itself is always consistent (one insert or remove).
        let full = {
            let table = self
                .table
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(state) = table.get(key) {
                return Arc::clone(state);
            }
            table.len() >= self.settings.budget.max_authorities
        };
        // A full table (every state in use) is where an authority past the
        // cap lands on every request: there it makes room only if the lock
        // is free at once, so such requests never queue on the lock; they
        // share the overflow state instead.
        let mut table = if full {
            match self.table.try_write() {
                Ok(table) => table,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return Arc::clone(&self.overflow),
            }
        } else {
            self.table
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(state) = table.get(key) {
            return Arc::clone(state);
        }
        if table.len() >= self.settings.budget.max_authorities
            && !evict_one(&mut table, &self.retired)
        {
            return Arc::clone(&self.overflow);
        }
        // Published as `scheme://host:port` (the key: normalized, without
        // user information); a request naming neither, without the label.
        let label = Some(key).filter(|_| !(scheme.is_empty() && authority.is_empty()));
        #[cfg(feature = "metrics")]
        let label = label.map(|key| self.label_of(key));
        let counters = Counters::published(self.policy.as_deref(), label);
        let state = Arc::new(AuthorityState::new(
            &self.settings,
            key,
            scheme,
            authority,
            counters,
        ));
        table.insert(key.into(), Arc::clone(&state));
        state
    }
}

/// The most states one eviction looks at.
const EVICTION_SCAN: usize = 64;

/// Forgets one idle authority to make room: one nothing refers to (no
/// service caches it, no request retries through it) and no request waits
/// for. False if none is idle: the new authority then shares the overflow
/// state. A state in use is never evicted, so every request to an
/// authority counts in one state, and an answer reaches its waiters.
///
/// It looks at no more than [`EVICTION_SCAN`] states (in the table's
/// arbitrary order), so a table full of states in use costs a bounded scan.
///
/// Its counts are added to `retired`, under the table's write lock, so a
/// snapshot (under the read lock) counts them once.
fn evict_one(table: &mut HashMap<Box<str>, Arc<AuthorityState>>, retired: &Counters) -> bool {
    let victim = table
        .iter()
        .take(EVICTION_SCAN)
        .find(|(_, state)| state.is_idle())
        .map(|(key, _)| key.clone());
    match victim {
        Some(key) => {
            if let Some(state) = table.remove(&key) {
                retired.absorb(&state.counters);
            }
            true
        }
        None => false,
    }
}

/// A scheme as the cache compares it: the common ones without a string
/// comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeTag {
    None,
    Http,
    Https,
    Other,
    Never,
}

impl SchemeTag {
    #[inline]
    fn of(scheme: &str) -> Self {
        match scheme {
            "http" => SchemeTag::Http,
            "https" => SchemeTag::Https,
            "" => SchemeTag::None,
            _ => SchemeTag::Other,
        }
    }
}

/// `a == b`, for the short names authorities are without a call to
/// `memcmp`: up to 32 bytes, the first and the last 8 (or 16) bytes of each,
/// which overlap to cover all of them.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    fn words<const N: usize>(s: &[u8]) -> Option<(&[u8; N], &[u8; N])> {
        Some((s.first_chunk::<N>()?, s.last_chunk::<N>()?))
    }
    match a.len() {
        8..=16 => words::<8>(a) == words::<8>(b),
        17..=32 => words::<16>(a) == words::<16>(b),
        _ => a == b,
    }
}

/// Where a normalized authority name is built without allocating, for the
/// names that fit.
struct KeyBuffer {
    bytes: [u8; 128],
    spilled: String,
}

impl KeyBuffer {
    fn new() -> Self {
        Self {
            bytes: [0; 128],
            spilled: String::new(),
        }
    }

    /// `scheme://host:port`, lowercased, with the scheme's default port
    /// when none is named, and without any user information (which may be
    /// a secret). An authority that does not parse is kept as spelled.
    fn key(&mut self, scheme: &str, authority: &str) -> &str {
        let (host, port) = split_authority(authority);
        let port = port.or(match scheme {
            s if s.eq_ignore_ascii_case("http") => Some("80"),
            s if s.eq_ignore_ascii_case("https") => Some("443"),
            _ => None,
        });
        let parts = [scheme, "://", host, ":", port.unwrap_or("")];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= self.bytes.len() {
            let mut at = 0;
            for part in parts {
                self.bytes[at..at + part.len()].copy_from_slice(part.as_bytes());
                at += part.len();
            }
            self.bytes[..len].make_ascii_lowercase();
            // Lowercasing ASCII keeps UTF-8 valid, and each part was a str.
            std::str::from_utf8(&self.bytes[..len]).unwrap_or("")
        } else {
            self.spilled = parts.concat().to_ascii_lowercase();
            &self.spilled
        }
    }
}

/// The host and the port of an authority, without user information.
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    // An IPv6 literal's colons are inside its brackets.
    let port_at = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].find(':').map(|i| bracket + i),
        None => host_port.rfind(':'),
    };
    match port_at {
        Some(at) => (&host_port[..at], Some(&host_port[at + 1..])),
        None => (host_port, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scheme: &str, authority: &str) -> String {
        KeyBuffer::new().key(scheme, authority).to_string()
    }

    #[test]
    fn short_names_compare_as_bytes_do() {
        let names = [
            "",
            "a",
            "host:80",
            "127.0.0.1:8080",
            "127.0.0.1:8081",
            "227.0.0.1:8080",
            "api.example.com:443",
            "api.example.com:444",
            "bpi.example.com:443",
            "a-rather-long-host-name.example.org:8443",
            "a-rather-long-host-name.example.org:8444",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
        }
    }

    #[test]
    fn names_are_normalized_to_scheme_host_and_port() {
        assert_eq!(key("http", "Example.COM"), "http://example.com:80");
        assert_eq!(key("http", "example.com:80"), "http://example.com:80");
        assert_eq!(key("https", "example.com"), "https://example.com:443");
        assert_eq!(
            key("https", "user:secret@example.com:8443"),
            "https://example.com:8443"
        );
        assert_eq!(key("http", "[::1]:3000"), "http://[::1]:3000");
        assert_eq!(key("http", "[::1]"), "http://[::1]:80");
        assert_eq!(key("", ""), "://:");
        let long = "a".repeat(300);
        assert_eq!(key("http", &long), format!("http://{long}:80"));
    }

    fn settings(max_authorities: usize) -> RetryBudget {
        RetryBudget::default().max_authorities(max_authorities)
    }

    fn uri(authority: &str) -> http::Uri {
        format!("http://{authority}/").parse().unwrap()
    }

    #[tokio::test]
    async fn spellings_of_one_authority_share_one_state() {
        let scopes = Scopes::new(settings(16), &Backoff::default(), 1);
        let a = scopes.state_of(&uri("example.com"));
        let b = scopes.state_of(&uri("EXAMPLE.com:80"));
        let c = scopes.state_of(&uri("example.com:8080"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(scopes.len(), 2);
    }

    #[tokio::test]
    async fn the_table_never_holds_more_than_its_cap() {
        let scopes = Scopes::new(settings(8), &Backoff::default(), 1);
        for i in 0..100 {
            let _ = scopes.state_of(&uri(&format!("host-{i}.example")));
            assert!(scopes.len() <= 8);
        }
        assert_eq!(scopes.len(), 8);
    }

    #[tokio::test]
    async fn a_cached_state_is_reused_and_a_new_authority_replaces_it() {
        let scopes = Scopes::new(settings(8), &Backoff::default(), 1);
        let mut cache = None;
        scopes.deposit(&uri("a.example"), &mut cache);
        let first = Arc::clone(cache.as_ref().unwrap());
        scopes.deposit(&uri("a.example"), &mut cache);
        assert!(Arc::ptr_eq(&first, cache.as_ref().unwrap()));
        scopes.deposit(&uri("b.example"), &mut cache);
        assert!(!Arc::ptr_eq(&first, cache.as_ref().unwrap()));
        assert_eq!(scopes.len(), 2);
    }
}

/// The cache comparison and the overflow state, from an adversarial review:
/// the two overflow tests failed before the fix (see the commit messages).
#[cfg(test)]
mod cache_and_overflow {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn scopes(max_authorities: usize) -> Scopes {
        Scopes::new(
            RetryBudget::default().max_authorities(max_authorities),
            &crate::Backoff::exponential(Duration::from_millis(100)),
            1,
        )
    }

    fn uri(authority: &str) -> http::Uri {
        format!("http://{authority}/").parse().unwrap()
    }

    fn authorities(scopes: &Scopes) -> &Authorities {
        match scopes {
            Scopes::PerAuthority(authorities) => authorities,
            Scopes::Shared(_) => unreachable!("built per authority"),
        }
    }

    /// `same_bytes` against `==` for every length 0..=40: each pair of
    /// equal-length strings that differ in exactly one position (every
    /// position, bytes from a small alphabet including 0 and 0xff), and
    /// every pair of lengths.
    #[test]
    fn same_bytes_is_equality_for_every_length_up_to_40() {
        let alphabet = [b'a', b'b', 0u8, 0xff, b':'];
        for len in 0..=40usize {
            for &fill in &alphabet {
                let base = vec![fill; len];
                assert!(same_bytes(&base, &base.clone()), "len {len}");
                for at in 0..len {
                    for &other in &alphabet {
                        let mut changed = base.clone();
                        changed[at] = other;
                        assert_eq!(
                            same_bytes(&base, &changed),
                            base == changed,
                            "len {len}, byte {at}: {fill} vs {other}"
                        );
                        assert_eq!(same_bytes(&changed, &base), base == changed);
                    }
                }
            }
            for other_len in 0..=40usize {
                let a = vec![b'a'; len];
                let b = vec![b'a'; other_len];
                assert_eq!(same_bytes(&a, &b), a == b, "{len} vs {other_len}");
            }
        }
    }

    /// Past the cap, with every tracked state in use, a new authority's
    /// requests share the overflow state, which the service caches. But the
    /// overflow state is spelled "" "", so `is_for` never matches it for a
    /// request with a scheme: every later request to that authority misses
    /// the cache, misses the table under the read lock, takes the WRITE
    /// lock and scans the whole table for an idle state (O(max_authorities),
    /// 1024 by default) - per request, serialising every service that
    /// talks to an authority past the cap.
    ///
    /// Shown by holding the table's read lock: a cached-state hit needs no
    /// lock at all, so the second request must not block.
    #[test]
    fn a_request_through_a_cached_overflow_state_takes_no_table_lock() {
        let scopes = Arc::new(scopes(1));
        // A service keeps a.example's state cached: the table (cap 1) is
        // full of a state in use.
        let mut pinned = None;
        scopes.deposit(&uri("a.example"), &mut pinned);
        // Another service talks to b.example: it gets the overflow state.
        let mut cache = None;
        scopes.deposit(&uri("b.example"), &mut cache);
        let overflow = &authorities(&scopes).overflow;
        assert!(Arc::ptr_eq(cache.as_ref().unwrap(), overflow));

        let guard = authorities(&scopes).table.read().unwrap();
        let (done, finished) = mpsc::channel();
        let racing = Arc::clone(&scopes);
        let service = std::thread::spawn(move || {
            let mut cache = cache;
            racing.deposit(&uri("b.example"), &mut cache);
            let _ = done.send(());
            cache
        });
        let blocked = finished.recv_timeout(Duration::from_secs(2)).is_err();
        drop(guard);
        let cache = service.join().unwrap();
        assert!(Arc::ptr_eq(cache.as_ref().unwrap(), overflow));
        assert!(
            !blocked,
            "the second request to b.example, whose service caches the overflow \
             state, waited for the table's write lock"
        );
    }

    /// The overflow state is spelled like a request without scheme or
    /// authority ("" ""), so a service caching it answers `is_for` true for
    /// an origin-form request: that request is counted in the overflow
    /// state (and reads the overflow gate's `is_limited`), while its retries
    /// and answers go through `state_of`, i.e. the table's "://:" state.
    #[test]
    fn an_origin_form_request_is_not_counted_in_a_cached_overflow_state() {
        let scopes = scopes(2);
        let origin_form: http::Uri = "/path".parse().unwrap();
        // Two services pin the two tracked states: origin-form and a.example.
        let mut origin_cache = None;
        scopes.deposit(&origin_form, &mut origin_cache);
        let mut a_cache = None;
        scopes.deposit(&uri("a.example"), &mut a_cache);
        // A third service talks to b.example (overflow), then sends an
        // origin-form request.
        let mut cache = None;
        scopes.deposit(&uri("b.example"), &mut cache);
        assert!(Arc::ptr_eq(
            cache.as_ref().unwrap(),
            &authorities(&scopes).overflow
        ));
        scopes.deposit(&origin_form, &mut cache);
        let table_state = scopes.state_of(&origin_form);
        assert!(
            Arc::ptr_eq(cache.as_ref().unwrap(), &table_state),
            "the origin-form request was counted in the overflow state, its \
             retries will go through the table's"
        );
    }
}
