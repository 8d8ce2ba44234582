//! The cached front of a directory store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{DirectoryStore, StoreError, Tenant};
use crate::{Domain, TenantId};

/// How long and how many directory answers are kept.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DirectoryOptions {
    /// How long a found tenant is served from the cache (default 60 s).
    pub ttl: Duration,
    /// How long "no such tenant" is served from the cache (default 10 s).
    pub miss_ttl: Duration,
    /// How many found answers are kept (default 10,000).
    pub capacity: usize,
    /// How many "no such tenant" answers are kept (default 10,000). Misses
    /// have their own bound so a flood of unknown hosts cannot evict the
    /// tenants that real traffic needs.
    pub miss_capacity: usize,
    /// At most this many store queries run at once (default 8): a flood of
    /// distinct unknown hosts waits here instead of taking every database
    /// connection.
    pub max_concurrent_lookups: usize,
}

impl Default for DirectoryOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            miss_ttl: Duration::from_secs(10),
            capacity: 10_000,
            miss_capacity: 10_000,
            max_concurrent_lookups: 8,
        }
    }
}

impl DirectoryOptions {
    /// Sets [`ttl`](Self::ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`miss_ttl`](Self::miss_ttl).
    pub fn miss_ttl(mut self, ttl: Duration) -> Self {
        self.miss_ttl = ttl;
        self
    }

    /// Sets [`capacity`](Self::capacity).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Sets [`miss_capacity`](Self::miss_capacity).
    pub fn miss_capacity(mut self, n: usize) -> Self {
        self.miss_capacity = n;
        self
    }

    /// Sets [`max_concurrent_lookups`](Self::max_concurrent_lookups).
    pub fn max_concurrent_lookups(mut self, n: usize) -> Self {
        self.max_concurrent_lookups = n;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Domain(Domain),
    Slug(String),
    Id(TenantId),
}

/// A borrowed [`Key`], so a cache hit allocates nothing.
#[derive(Debug, Clone, Copy)]
enum KeyRef<'a> {
    Domain(&'a Domain),
    Slug(&'a str),
    Id(TenantId),
}

impl KeyRef<'_> {
    fn to_owned(self) -> Key {
        match self {
            Self::Domain(d) => Key::Domain(d.clone()),
            Self::Slug(s) => Key::Slug(s.to_owned()),
            Self::Id(id) => Key::Id(id),
        }
    }
}

// `Key` and `KeyRef` must hash alike: both hash a tag and the text or id.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::Domain(d) => KeyRef::Domain(d).hash(state),
            Self::Slug(s) => KeyRef::Slug(s).hash(state),
            Self::Id(id) => KeyRef::Id(*id).hash(state),
        }
    }
}

impl std::hash::Hash for KeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::Domain(d) => (0u8, d.as_str()).hash(state),
            Self::Slug(s) => (1u8, *s).hash(state),
            Self::Id(id) => (2u8, id).hash(state),
        }
    }
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (Self::Domain(a), Key::Domain(b)) => *a == b,
            (Self::Slug(a), Key::Slug(b)) => *a == b,
            (Self::Id(a), Key::Id(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Clone)]
struct Found {
    tenant: Arc<Tenant>,
    expires: Instant,
}

/// A [`DirectoryStore`] behind a cache with a TTL, for lookups on every
/// request. Cloning shares the cache.
///
/// A warm lookup is a hash-map read and an `Arc` clone. Concurrent misses for
/// one key share one store query. A store error is returned as it is and is
/// never cached, so an outage is not remembered as "no such tenant".
#[derive(Clone)]
pub struct TenantDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    store: Box<dyn DirectoryStore>,
    options: DirectoryOptions,
    found: Cache<Key, Found>,
    missing: Cache<Key, Instant>,
    lookups: Semaphore,
}

impl fmt::Debug for TenantDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDirectory")
            .field("store", &self.inner.store)
            .field("options", &self.inner.options)
            .field("cached", &self.inner.found.len())
            .field("cached_misses", &self.inner.missing.len())
            .finish()
    }
}

impl TenantDirectory {
    /// A directory over `store` with the default [`DirectoryOptions`].
    pub fn new(store: impl DirectoryStore) -> Self {
        Self::with_options(store, DirectoryOptions::default())
    }

    /// A directory over `store`.
    pub fn with_options(store: impl DirectoryStore, options: DirectoryOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: Box::new(store),
                found: Cache::new(options.capacity.max(1)),
                missing: Cache::new(options.miss_capacity.max(1)),
                lookups: Semaphore::new(options.max_concurrent_lookups.max(1)),
                options,
            }),
        }
    }

    /// The tenant that owns `domain`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer and nothing fresh is cached.
    pub async fn by_domain(&self, domain: &Domain) -> Result<Option<Arc<Tenant>>, StoreError> {
        self.lookup(KeyRef::Domain(domain)).await
    }

    /// The tenant with this slug.
    ///
    /// # Errors
    ///
    /// As [`by_domain`](Self::by_domain).
    pub async fn by_slug(&self, slug: &str) -> Result<Option<Arc<Tenant>>, StoreError> {
        self.lookup(KeyRef::Slug(slug)).await
    }

    /// The tenant with this id.
    ///
    /// # Errors
    ///
    /// As [`by_domain`](Self::by_domain).
    pub async fn by_id(&self, id: TenantId) -> Result<Option<Arc<Tenant>>, StoreError> {
        self.lookup(KeyRef::Id(id)).await
    }

    /// Forgets what is cached for `domain` (after adding or moving it).
    pub fn invalidate_domain(&self, domain: &Domain) {
        let key = KeyRef::Domain(domain);
        self.inner.found.remove(&key);
        self.inner.missing.remove(&key);
    }

    /// Forgets everything cached about tenant `id` (after suspending it or
    /// changing its domains), and every cached miss, since a miss may have
    /// been for a name the tenant now has.
    pub fn invalidate_tenant(&self, id: TenantId) {
        self.inner.found.retain(|_, found| found.tenant.id != id);
        self.inner.missing.clear();
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.inner.found.clear();
        self.inner.missing.clear();
    }

    /// The kind of key the store's tenants have (see
    /// [`DirectoryStore::key_kind`]).
    pub fn key_kind(&self) -> crate::TenantKeyKind {
        self.inner.store.key_kind()
    }

    /// The store behind the cache.
    pub fn store(&self) -> &dyn DirectoryStore {
        &*self.inner.store
    }

    async fn lookup(&self, key: KeyRef<'_>) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(answer) = self.cached(&key) {
            return Ok(answer);
        }
        let key = key.to_owned();
        // One store query per key at a time: later callers wait for the
        // first one's answer instead of asking again.
        let guard = match self.inner.found.get_value_or_guard_async(&key).await {
            Ok(found) if found.expires > Instant::now() => return Ok(Some(found.tenant)),
            Ok(_) => None,
            Err(guard) => Some(guard),
        };
        // The first caller may have found nothing, which lives in the other
        // cache: look there again before asking the store.
        if let Some(answer) = self.cached(&key) {
            return Ok(answer);
        }
        let tenant = {
            let _permit = self.inner.lookups.acquire().await;
            match &key {
                Key::Domain(d) => self.inner.store.tenant_by_domain(d).await,
                Key::Slug(s) => self.inner.store.tenant_by_slug(s).await,
                Key::Id(id) => self.inner.store.tenant_by_id(*id).await,
            }
        }?;
        let now = Instant::now();
        match tenant {
            Some(tenant) => {
                let found = Found {
                    tenant: Arc::new(tenant),
                    expires: now + self.inner.options.ttl,
                };
                let tenant = found.tenant.clone();
                match guard {
                    Some(guard) => {
                        let _ = guard.insert(found);
                    }
                    None => self.inner.found.insert(key, found),
                }
                Ok(Some(tenant))
            }
            None => {
                drop(guard);
                self.inner.found.remove(&key);
                self.inner
                    .missing
                    .insert(key, now + self.inner.options.miss_ttl);
                Ok(None)
            }
        }
    }

    /// A fresh cached answer, if there is one.
    fn cached<Q>(&self, key: &Q) -> Option<Option<Arc<Tenant>>>
    where
        Q: std::hash::Hash + quick_cache::Equivalent<Key> + ?Sized,
    {
        let now = Instant::now();
        if let Some(found) = self.inner.found.get(key)
            && found.expires > now
        {
            return Some(Some(found.tenant));
        }
        match self.inner.missing.get(key) {
            Some(expires) if expires > now => Some(None),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::directory::InMemoryDirectory;

    /// Counts the queries that reach the store, and can be switched off.
    #[derive(Debug, Default, Clone)]
    struct Counting {
        inner: InMemoryDirectory,
        queries: Arc<AtomicUsize>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    #[async_trait::async_trait]
    impl DirectoryStore for Counting {
        async fn tenant_by_domain(&self, d: &Domain) -> Result<Option<Tenant>, StoreError> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            // Long enough for concurrent callers to pile up behind us.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::new("database is down"));
            }
            self.inner.tenant_by_domain(d).await
        }
        async fn tenant_by_slug(&self, s: &str) -> Result<Option<Tenant>, StoreError> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            self.inner.tenant_by_slug(s).await
        }
        async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
            self.queries.fetch_add(1, Ordering::SeqCst);
            self.inner.tenant_by_id(id).await
        }
    }

    fn setup(config: DirectoryOptions) -> (Counting, TenantDirectory) {
        let store = Counting::default();
        store
            .inner
            .insert(Tenant::new(1, "goldenkey", "Golden Key"), ["gk.localhost"])
            .unwrap();
        (store.clone(), TenantDirectory::with_options(store, config))
    }

    fn d(s: &str) -> Domain {
        Domain::parse(s).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn hits_and_misses_are_cached_until_their_ttl() {
        let config = DirectoryOptions::default()
            .ttl(Duration::from_secs(60))
            .miss_ttl(Duration::from_secs(5));
        let (store, dir) = setup(config);
        for _ in 0..3 {
            assert_eq!(
                dir.by_domain(&d("gk.localhost")).await.unwrap().unwrap().id,
                TenantId::new(1)
            );
            assert!(
                dir.by_domain(&d("nobody.localhost"))
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(store.queries.load(Ordering::SeqCst), 2);

        tokio::time::advance(Duration::from_secs(6)).await;
        dir.by_domain(&d("gk.localhost")).await.unwrap();
        dir.by_domain(&d("nobody.localhost")).await.unwrap();
        assert_eq!(
            store.queries.load(Ordering::SeqCst),
            3,
            "only the miss expired"
        );

        tokio::time::advance(Duration::from_secs(60)).await;
        dir.by_domain(&d("gk.localhost")).await.unwrap();
        assert_eq!(store.queries.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_key_share_one_query() {
        let (store, dir) = setup(DirectoryOptions::default());
        let lookups = (0..32).map(|i| {
            let dir = dir.clone();
            let host = if i % 2 == 0 {
                "gk.localhost"
            } else {
                "nobody.localhost"
            };
            tokio::spawn(async move { dir.by_domain(&d(host)).await.unwrap().map(|t| t.id) })
        });
        for (i, handle) in lookups.enumerate() {
            let got = handle.await.unwrap();
            assert_eq!(got, (i % 2 == 0).then_some(TenantId::new(1)));
        }
        // At most one query per key, plus one per waiter that woke after a
        // miss was released (misses go to the other cache).
        let queries = store.queries.load(Ordering::SeqCst);
        assert!(queries <= 4, "{queries} store queries for two keys");
    }

    #[tokio::test]
    async fn a_store_error_is_returned_and_never_cached_as_a_miss() {
        let (store, dir) = setup(DirectoryOptions::default());
        store.down.store(true, Ordering::SeqCst);
        assert!(dir.by_domain(&d("gk.localhost")).await.is_err());
        store.down.store(false, Ordering::SeqCst);
        assert!(dir.by_domain(&d("gk.localhost")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_cached_tenant_is_served_while_the_store_is_down() {
        let (store, dir) = setup(DirectoryOptions::default());
        dir.by_domain(&d("gk.localhost")).await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        assert!(dir.by_domain(&d("gk.localhost")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn invalidation_forgets_hits_and_misses() {
        let (store, dir) = setup(DirectoryOptions::default());
        assert!(
            dir.by_domain(&d("stone.localhost"))
                .await
                .unwrap()
                .is_none()
        );
        store
            .inner
            .insert(Tenant::new(2, "stone", "Stone"), ["stone.localhost"])
            .unwrap();
        assert!(
            dir.by_domain(&d("stone.localhost"))
                .await
                .unwrap()
                .is_none(),
            "cached miss"
        );
        dir.invalidate_domain(&d("stone.localhost"));
        assert_eq!(
            dir.by_domain(&d("stone.localhost"))
                .await
                .unwrap()
                .unwrap()
                .id,
            TenantId::new(2)
        );

        // Suspending a tenant shows once its entries are invalidated.
        assert!(dir.by_slug("stone").await.unwrap().unwrap().is_active());
        store
            .inner
            .insert(
                Tenant::new(2, "stone", "Stone")
                    .with_status(crate::directory::TenantStatus::Suspended),
                ["stone.localhost"],
            )
            .unwrap();
        dir.invalidate_tenant(TenantId::new(2));
        assert!(!dir.by_slug("stone").await.unwrap().unwrap().is_active());
        assert!(
            !dir.by_domain(&d("stone.localhost"))
                .await
                .unwrap()
                .unwrap()
                .is_active()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_unknown_hosts_is_bounded() {
        let (store, dir) = setup(DirectoryOptions::default().miss_capacity(100));
        for _round in 0..2 {
            for i in 0..50 {
                dir.by_domain(&d(&format!("h{i}.flood.example")))
                    .await
                    .unwrap();
            }
        }
        // 50 distinct misses, each asked once: the second round was cached.
        assert_eq!(store.queries.load(Ordering::SeqCst), 50);
        // The known tenant's entry survives a flood past the miss capacity.
        dir.by_domain(&d("gk.localhost")).await.unwrap();
        for i in 0..1_000 {
            dir.by_domain(&d(&format!("x{i}.flood.example")))
                .await
                .unwrap();
        }
        let before = store.queries.load(Ordering::SeqCst);
        dir.by_domain(&d("gk.localhost")).await.unwrap();
        assert_eq!(store.queries.load(Ordering::SeqCst), before);
        assert!(
            dir.inner.missing.len() <= 200,
            "miss cache stays near its bound"
        );
    }
}
