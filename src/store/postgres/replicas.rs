//! Messages between replicas that share one database: PostgreSQL's `NOTIFY` and `LISTEN`. The
//! live publisher announces its changes here and hears the other replicas'; on SQLite (one
//! process) there is no channel.

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// The channel between replicas, handed out by `Store::replica_channel`.
#[derive(Clone)]
pub struct ReplicaChannel {
    pool: PgPool,
}

/// A subscription to one topic of the channel.
pub struct ReplicaListener {
    listener: PgListener,
}

impl ReplicaChannel {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Sends `payload` (at most 8000 bytes) to every replica listening to `topic`, this one
    /// included.
    pub async fn announce(&self, topic: &str, payload: &str) -> Result<(), super::StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(topic).bind(payload).execute(&self.pool).await?;
        Ok(())
    }

    /// Listens to `topic` on a connection of its own.
    pub async fn listen(&self, topic: &str) -> Result<ReplicaListener, super::StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(topic).await?;
        Ok(ReplicaListener { listener })
    }
}

impl ReplicaListener {
    /// The next payload announced; an error means the connection was lost (listen again).
    pub async fn next(&mut self) -> Result<String, super::StoreError> {
        let note = self.listener.recv().await?;
        Ok(note.payload().to_string())
    }
}
