//! Propagation: keeping a registry up to date with what other instances
//! write.
//!
//! On PostgreSQL (feature `postgres`) every write notifies its scope and
//! revision on commit; a listener reloads that scope at once. Notifications
//! are not durable (a dropped connection loses them), so a reconciliation
//! poll compares revisions every so often and reloads everything when they
//! differ. On SQLite and MySQL there is no notification: the poll is all.

use std::time::Duration;

use tenancy_config::ConfigRegistry;

use super::SeaOrmConfigStore;

/// How [`SeaOrmConfigStore::watch`] keeps a registry up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// How often to compare revisions where there is no notification
    /// (SQLite, MySQL, or PostgreSQL without the `postgres` feature).
    /// Default 2 s: a change reaches every instance within about that.
    pub poll_every: Duration,
    /// How often to compare revisions while listening for notifications on
    /// PostgreSQL, to catch any that were lost. Default 30 s.
    pub reconcile_every: Duration,
    /// How long to wait before listening again after the listener failed.
    /// Default 1 s.
    pub reconnect_after: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(2),
            reconcile_every: Duration::from_secs(30),
            reconnect_after: Duration::from_secs(1),
        }
    }
}

impl WatchOptions {
    /// The same options with another polling period (no notifications).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// The same options with another reconciliation period (PostgreSQL).
    pub fn reconcile_every(mut self, every: Duration) -> Self {
        self.reconcile_every = every;
        self
    }

    /// The same options with another wait before listening again.
    pub fn reconnect_after(mut self, after: Duration) -> Self {
        self.reconnect_after = after;
        self
    }
}

impl SeaOrmConfigStore {
    /// Keeps `registry` (which must load from this store's database) up to
    /// date with changes other instances make, forever: spawn it, and
    /// abort the task to stop.
    ///
    /// On PostgreSQL, with the `postgres` feature, it listens on
    /// [`channel`](Self::channel) (one pooled connection held for good) and
    /// reloads the notified scope, and reconciles by revision every
    /// [`WatchOptions::reconcile_every`]; elsewhere it polls every
    /// [`WatchOptions::poll_every`]. Failures are WARN events (target
    /// `tenancy::config`) and show in [`ConfigRegistry::health`]; reads
    /// keep the last good snapshot meanwhile, and watching goes on.
    ///
    /// ```no_run
    /// # async fn run(store: tenancy_seaorm::config_store::SeaOrmConfigStore,
    /// #              registry: tenancy_config::ConfigRegistry) {
    /// use tenancy_seaorm::config_store::WatchOptions;
    ///
    /// let watcher = tokio::spawn(async move {
    ///     store.watch(&registry, WatchOptions::default()).await
    /// });
    /// // ... on shutdown:
    /// watcher.abort();
    /// # }
    /// ```
    pub async fn watch(&self, registry: &ConfigRegistry, options: WatchOptions) {
        #[cfg(feature = "postgres")]
        if let sea_orm::DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &self.db.inner {
            let pool = self.db.get_postgres_connection_pool().clone();
            return listen::run(pool, &self.channel, registry, options).await;
        }
        registry.watch_by_polling(options.poll_every).await;
    }
}

#[cfg(feature = "postgres")]
mod listen {
    use sea_orm::sqlx::PgPool;
    use sea_orm::sqlx::postgres::PgListener;
    use tenancy_config::ConfigRegistry;
    use tokio::sync::{mpsc, oneshot};
    use tokio::task::JoinHandle;

    use super::WatchOptions;
    use crate::config_store::ChangeNotice;

    /// What the listening task hands over.
    enum Event {
        /// A notification's payload.
        Notice(String),
        /// The connection dropped (and was made again): notifications may
        /// have been lost.
        Lost,
    }

    /// Aborts the listening task when the watcher is dropped or aborted.
    struct AbortOnDrop(JoinHandle<()>);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    pub(super) async fn run(
        pool: PgPool,
        channel: &str,
        registry: &ConfigRegistry,
        options: WatchOptions,
    ) {
        loop {
            let (events, mut received) = mpsc::channel(64);
            let (ready, listening) = oneshot::channel();
            let _task = AbortOnDrop(tokio::spawn(listen(
                pool.clone(),
                channel.to_owned(),
                events,
                ready,
            )));
            match listening.await {
                Ok(Ok(())) => {
                    tracing::debug!(target: "tenancy::config", channel, "listening for config changes");
                    // Whatever changed between the last load and LISTEN.
                    let _ = registry.poll().await;
                    let mut ticks = tokio::time::interval(options.reconcile_every);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticks.tick().await;
                    loop {
                        tokio::select! {
                            event = received.recv() => match event {
                                Some(Event::Notice(payload)) => on_notice(registry, &payload).await,
                                Some(Event::Lost) => {
                                    tracing::warn!(
                                        target: "tenancy::config", channel,
                                        "config listener lost its connection; reconciling"
                                    );
                                    let _ = registry.poll().await;
                                }
                                // The listener failed (and said why).
                                None => break,
                            },
                            _ = ticks.tick() => {
                                // Failures are in `health` and logged.
                                let _ = registry.poll().await;
                            }
                        }
                    }
                }
                Ok(Err(error)) => tracing::warn!(
                    target: "tenancy::config", channel, %error,
                    "cannot listen for config changes; polling until it can"
                ),
                Err(_) => {}
            }
            let _ = registry.poll().await;
            tokio::time::sleep(options.reconnect_after).await;
        }
    }

    async fn on_notice(registry: &ConfigRegistry, payload: &str) {
        match serde_json::from_str::<ChangeNotice>(payload) {
            Ok(notice) => {
                tracing::debug!(
                    target: "tenancy::config",
                    scope = %notice.scope, revision = notice.revision,
                    "config change notified"
                );
                let _ = registry.refresh_scope(notice.scope).await;
            }
            Err(error) => {
                tracing::warn!(
                    target: "tenancy::config", %error,
                    "unreadable config change notice; reloading everything"
                );
                let _ = registry.refresh().await;
            }
        }
    }

    /// Owns the listener, so that `try_recv` is never cancelled half-way
    /// through a message by the watcher's `select!`.
    async fn listen(
        pool: PgPool,
        channel: String,
        events: mpsc::Sender<Event>,
        ready: oneshot::Sender<Result<(), sea_orm::sqlx::Error>>,
    ) {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        if let Err(error) = listener.listen(&channel).await {
            let _ = ready.send(Err(error));
            return;
        }
        if ready.send(Ok(())).is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                next = listener.try_recv() => next,
                () = events.closed() => return,
            };
            let event = match next {
                Ok(Some(notification)) => Event::Notice(notification.payload().to_owned()),
                Ok(None) => Event::Lost,
                Err(error) => {
                    tracing::warn!(
                        target: "tenancy::config", channel, %error,
                        "config listener failed; listening again"
                    );
                    return;
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}
