//! Where limit counters and locks live: the database, or Redis when `MILKFLOW_REDIS_URL` is set. Either way
//! every API process sees the same counts, so N replicas give one quota, not N.

use store::Database;

/// A counter's value and when its window ends (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: i64,
    pub expires_ms: i64,
}

/// The shared store of counters and locks.
#[derive(Clone)]
pub enum LimitStore {
    Database(Database),
    Redis(redis::aio::ConnectionManager),
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] store::DbErr),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Redis keys of milkflow start with this.
const PREFIX: &str = "milkflow:auth:";

impl LimitStore {
    /// Redis at `url` when given (checked with a PING at start), else the database.
    pub async fn connect(db: &Database, redis_url: Option<&str>) -> anyhow::Result<Self> {
        let Some(url) = redis_url else { return Ok(Self::Database(db.clone())) };
        let client =
            redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid setting MILKFLOW_REDIS_URL: {e}"))?;
        let mut manager = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach MILKFLOW_REDIS_URL: {e}"))?;
        redis::cmd("PING").query_async::<String>(&mut manager).await?;
        Ok(Self::Redis(manager))
    }

    /// Counts one more in `key`'s window; a window that has ended starts again at 1 for `window_ms`.
    pub async fn hit(&self, key: &str, window_ms: i64, now_ms: i64) -> Result<Count, StoreError> {
        match self {
            Self::Database(db) => {
                let (count, expires_ms) = store::limits::hit(db, key, window_ms, now_ms).await?;
                Ok(Count { count, expires_ms })
            }
            Self::Redis(conn) => {
                let key = format!("{PREFIX}{key}");
                let (count, ttl): (i64, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(window_ms)
                    .arg("NX")
                    .ignore()
                    .pttl(&key)
                    .query_async(&mut conn.clone())
                    .await?;
                Ok(Count { count, expires_ms: now_ms + Ord::max(ttl, 0) })
            }
        }
    }

    /// Whether `key` is set and its time has not ended.
    pub async fn is_set(&self, key: &str, now_ms: i64) -> Result<bool, StoreError> {
        match self {
            Self::Database(db) => Ok(store::limits::is_set(db, key, now_ms).await?),
            Self::Redis(conn) => {
                let exists: bool =
                    redis::cmd("EXISTS").arg(format!("{PREFIX}{key}")).query_async(&mut conn.clone()).await?;
                Ok(exists)
            }
        }
    }

    /// Sets `key` until `expires_ms`.
    pub async fn set(&self, key: &str, expires_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        match self {
            Self::Database(db) => Ok(store::limits::set(db, key, expires_ms).await?),
            Self::Redis(conn) => {
                let ms = Ord::max(expires_ms - now_ms, 1);
                let _: () = redis::cmd("SET")
                    .arg(format!("{PREFIX}{key}"))
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut conn.clone())
                    .await?;
                Ok(())
            }
        }
    }

    /// Removes `key`.
    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Self::Database(db) => Ok(store::limits::remove(db, key).await?),
            Self::Redis(conn) => {
                let _: () = redis::cmd("DEL").arg(format!("{PREFIX}{key}")).query_async(&mut conn.clone()).await?;
                Ok(())
            }
        }
    }

    /// Removes every key that starts with `prefix`.
    pub async fn remove_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        match self {
            Self::Database(db) => Ok(store::limits::remove_prefix(db, prefix).await?),
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let escaped: String =
                    prefix.chars().flat_map(|c| if "*?[]\\".contains(c) { vec!['\\', c] } else { vec![c] }).collect();
                let pattern = format!("{PREFIX}{escaped}*");
                let keys: Vec<String> = {
                    let mut iter = redis::AsyncCommands::scan_match::<_, String>(&mut conn, pattern).await?;
                    let mut keys = Vec::new();
                    while let Some(k) = futures_util::StreamExt::next(&mut iter).await {
                        keys.push(k?);
                    }
                    keys
                };
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
                }
                Ok(())
            }
        }
    }
}
