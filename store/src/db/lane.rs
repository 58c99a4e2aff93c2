//! This process's lane of writers to one SQLite file: one writer at a time, in turn, with the app's requests
//! ahead of the scheduler's background writes.
//!
//! At the top of the hour the scheduler claims and records thousands of deliveries a second, each batch a write
//! transaction of tens of milliseconds. In plain turn a PUT from the app waited behind every batch queued before
//! it. A background writer here first lets the requests already waiting go, for at most [`YIELD_AT_MOST`]: a
//! request then waits for the batch being written and for background writers already past that bound, and
//! reminders are held back by at most that long each time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};
use tokio::time::Instant;

/// The longest a background writer lets requests go first, each time it writes.
pub const YIELD_AT_MOST: Duration = Duration::from_millis(50);

/// The writers of one SQLite file in this process.
#[derive(Default)]
pub struct Lane {
    turn: Arc<Mutex<()>>,
    /// Requests waiting for their turn.
    requests: AtomicUsize,
    /// Told when no request is waiting any more.
    quiet: Notify,
}

/// A request counted as waiting until it has its turn (or gave up).
struct Waiting<'a>(&'a Lane);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.quiet.notify_waiters();
        }
    }
}

impl Lane {
    /// The turn itself, for writers that go in plain turn (the log's checkpoint).
    pub fn turn(&self) -> Arc<Mutex<()>> {
        self.turn.clone()
    }

    /// A request's turn: after the writers already waiting.
    pub async fn request(&self) -> OwnedMutexGuard<()> {
        self.requests.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(self);
        self.turn.clone().lock_owned().await
    }

    /// A background writer's turn: once no request is waiting, or after [`YIELD_AT_MOST`] in any case.
    pub async fn background(&self) -> OwnedMutexGuard<()> {
        let deadline = Instant::now() + YIELD_AT_MOST;
        loop {
            self.until_quiet(deadline).await;
            let turn = self.turn.clone().lock_owned().await;
            if self.requests.load(Ordering::Acquire) == 0 || Instant::now() >= deadline {
                return turn;
            }
            // A request came while this writer waited in turn: it goes first.
        }
    }

    async fn until_quiet(&self, deadline: Instant) {
        loop {
            let quiet = self.quiet.notified();
            tokio::pin!(quiet);
            quiet.as_mut().enable();
            if self.requests.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::select! {
                () = quiet => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Order = Arc<std::sync::Mutex<Vec<&'static str>>>;

    /// Takes a turn, as a request or a background writer, and writes `name` down in `order` when it has it.
    fn take_turn(lane: &Arc<Lane>, order: &Order, name: &'static str, background: bool) -> tokio::task::JoinHandle<()> {
        let (lane, order) = (lane.clone(), order.clone());
        tokio::spawn(async move {
            let _turn = if background { lane.background().await } else { lane.request().await };
            order.lock().unwrap().push(name);
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_goes_before_a_background_writer_that_came_first() {
        let (lane, order) = (Arc::new(Lane::default()), Order::default());
        let first = lane.request().await;
        let background = take_turn(&lane, &order, "background", true);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let request = take_turn(&lane, &order, "request", false);
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(first);
        background.await.unwrap();
        request.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["request", "background"]);
    }

    #[tokio::test(start_paused = true)]
    async fn past_its_bound_a_background_writer_yields_no_more() {
        let (lane, order) = (Arc::new(Lane::default()), Order::default());
        let first = lane.request().await;
        let waiting = take_turn(&lane, &order, "request waiting all along", false);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let background = take_turn(&lane, &order, "background", true);
        // The background writer yields to the waiting request until its bound, then takes its place in turn.
        tokio::time::sleep(YIELD_AT_MOST + Duration::from_millis(5)).await;
        let late = take_turn(&lane, &order, "request after the bound", false);
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(first);
        for task in [waiting, background, late] {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["request waiting all along", "background", "request after the bound"]);
    }
}
