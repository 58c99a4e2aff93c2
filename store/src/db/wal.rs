//! SQLite's write-ahead log: copied back into the file in the background, and started again when it grows.

use sea_orm::sqlx::{query, query_as};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

use super::SQLITE_BUSY_TIMEOUT;

/// How soon the next checkpoint of a SQLite database's write-ahead log comes after one that found it grown:
/// writers are at work. A checkpoint ends by syncing what it copied to the disk, and while the disk writes that
/// back, a writer writing the same file waits in the kernel. Checkpoints close together each copy and sync
/// little, so each holds the writer back only briefly: a shorter tail of write latency, for a few fewer writes a
/// second. While nothing is written a checkpoint finds nothing to copy and syncs nothing.
const CHECKPOINT_WHILE_WRITTEN: Duration = Duration::from_millis(10);

/// How soon the next checkpoint comes after one that found the log as it was: nothing is being written.
const CHECKPOINT_WHILE_IDLE: Duration = Duration::from_millis(250);

/// A write-ahead log this many pages long (about 200 MiB) after a checkpoint means something keeps it from
/// being copied back (a reader that never ends): worth a warning.
const LONG_WAL_PAGES: i64 = 50_000;

/// A write-ahead log this many pages long (256 MiB of 4 KiB pages) is started again from its beginning.
///
/// SQLite starts its log again only when a writer begins just as everything in it has been copied back. While
/// writers follow each other without a pause (a peak of PUTs, a burst's fan-out) that moment never comes, and the
/// log grows without bound. Past this length a `RESTART` checkpoint makes the moment (see [`restart_log`]). It
/// takes its turn in this process's queue of writers (see [`writer_queue`]): waiting in SQLite's busy handler
/// instead, it would lose every race to writers that never pause. Each restart holds the writers back, so the
/// length is kept long enough for restarts to be rare. The log's file keeps the length it reached
/// (`journal_size_limit` would shrink it, but the commit that shrinks it holds the writers back far longer).
pub(super) const RESTART_AT_PAGES: i64 = 65_536;

/// Copies a SQLite database's write-ahead log into the database file (every [`CHECKPOINT_WHILE_WRITTEN`] while
/// it grows, every [`CHECKPOINT_WHILE_IDLE`] otherwise), and starts it again past `restart_at_pages`
/// ([`RESTART_AT_PAGES`]), until its pool is closed.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses 1,000 pages of log, so the one writer
/// that crosses it pays for everyone and sets the tail of write latency. Its connections here have it off
/// (`wal_autocheckpoint=0`), and this task checkpoints beside the writers instead: a `PASSIVE` checkpoint takes
/// no writer's lock and waits for no reader, so writers go on while it copies.
pub(super) async fn checkpoint_in_background(
    pool: sea_orm::sqlx::SqlitePool,
    writers: Arc<Mutex<()>>,
    restart_at_pages: i64,
) {
    let (mut pause, mut last_log) = (CHECKPOINT_WHILE_IDLE, 0);
    loop {
        tokio::time::sleep(pause).await;
        if pool.is_closed() {
            return;
        }
        let done = match checkpoint(&pool, "PRAGMA wal_checkpoint(PASSIVE)").await {
            Ok((_, log, copied)) => {
                pause = if log == last_log { CHECKPOINT_WHILE_IDLE } else { CHECKPOINT_WHILE_WRITTEN };
                last_log = log;
                if log - copied > LONG_WAL_PAGES {
                    tracing::warn!(
                        log_pages = log,
                        copied_pages = copied,
                        "the SQLite write-ahead log could not be copied back: a long-running reader may hold it"
                    );
                    Ok(())
                } else if log >= restart_at_pages {
                    restart_log(&pool, &writers, log).await.map(|restarted| {
                        if !restarted && log > 4 * restart_at_pages {
                            tracing::warn!(
                                log_pages = log,
                                "the SQLite write-ahead log could not be started again: readers keep using it"
                            );
                        }
                    })
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => {}
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "a SQLite checkpoint failed; the next one tries again"),
        }
    }
}

/// At most this many `PASSIVE` checkpoints run beside the writers before a `RESTART` holds them back, and for
/// at most [`CATCH_UP_FOR`] (the log grows meanwhile).
const CATCH_UP_PASSES: usize = 8;

/// How long the passes before a `RESTART` may go on.
const CATCH_UP_FOR: Duration = Duration::from_millis(100);

/// A `PASSIVE` pass that copied fewer new pages than this leaves little for the `RESTART` to copy and sync, so
/// the writers it holds back are held only briefly.
const CAUGHT_UP_PAGES: i64 = 32;

/// Starts a log of `log` pages, nearly all copied back already, again from its beginning; false when a reader
/// kept it from doing so.
///
/// Writers of this process wait while it runs (mostly for the sync of the few pages it copies). It does not wait
/// for readers: one still reading from the log leaves it for the next try, rather than hold every writer back
/// behind a long read (an export).
async fn restart_log(
    pool: &sea_orm::sqlx::SqlitePool,
    writers: &Arc<Mutex<()>>,
    log: i64,
) -> Result<bool, sea_orm::sqlx::Error> {
    // What was written while the last checkpoint copied is copied first beside the writers, again while a pass
    // still finds much to copy, so that what remains to copy while they are held back is little: a pass copies
    // what was written during the one before, a shorter time each pass.
    let (_, _, mut copied) = checkpoint(pool, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    let (mut passes, mut fresh) = (1, i64::MAX);
    let catching_up = std::time::Instant::now();
    while passes < CATCH_UP_PASSES && fresh >= CAUGHT_UP_PAGES && catching_up.elapsed() < CATCH_UP_FOR {
        let (_, _, now_copied) = checkpoint(pool, "PRAGMA wal_checkpoint(PASSIVE)").await?;
        (passes, fresh, copied) = (passes + 1, now_copied - copied, now_copied);
    }
    let Ok(_turn) = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, writers.clone().lock_owned()).await else {
        return Ok(false);
    };
    let held = std::time::Instant::now();
    let mut conn = pool.acquire().await?;
    // Set up differently from the pool's other connections, it is closed, not returned.
    conn.close_on_drop();
    query("PRAGMA busy_timeout = 0").execute(&mut *conn).await?;
    let (busy, _, _): (i64, i64, i64) = query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await?;
    let held_ms = held.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        log_pages = log,
        passes,
        last_pass_pages = fresh,
        restarted = busy == 0,
        held_ms,
        "SQLite write-ahead log started again"
    );
    Ok(busy == 0)
}

/// Runs `PRAGMA wal_checkpoint(...)`: (busy, pages in the log, pages of it copied into the database file).
async fn checkpoint(
    pool: &sea_orm::sqlx::SqlitePool,
    pragma: &'static str,
) -> Result<(i64, i64, i64), sea_orm::sqlx::Error> {
    query_as(pragma).fetch_one(pool).await
}
