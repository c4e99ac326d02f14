//! One partition's queue: the batch being filled and the sealed ones
//! waiting for the partition's sender task.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::batch::Staged;

/// A partition's batches.
pub(super) struct Queue {
    /// The batch being filled.
    pub(super) open: Option<Staged>,
    /// Full batches, oldest first, waiting for the sender.
    pub(super) sealed: VecDeque<Staged>,
    /// The writer closes (or the sender ended): nothing more is queued.
    pub(super) closing: bool,
}

/// One partition's batches and the sender task's wake-ups.
pub(super) struct PartitionQueue {
    pub(super) topic: String,
    pub(super) partition: i32,
    q: Mutex<Queue>,
    /// Wakes the sender: a batch was opened or sealed, or the writer closes.
    pub(super) wake: Notify,
    /// Wakes writers waiting for room in `sealed`.
    pub(super) space: Notify,
}

impl PartitionQueue {
    /// An empty queue for `topic`'s `partition` (closing already when the
    /// writer is).
    pub(super) fn new(topic: &str, partition: i32, closing: bool) -> Self {
        PartitionQueue {
            topic: topic.to_owned(),
            partition,
            q: Mutex::new(Queue {
                open: None,
                sealed: VecDeque::new(),
                closing,
            }),
            wake: Notify::new(),
            space: Notify::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the queue: the sender flushes it and ends.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_one();
        self.space.notify_waiters();
    }

    /// Waits until `sealed` has room (or the writer closes).
    pub(super) async fn wait_for_space(&self, max: usize) {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                if q.sealed.len() < max || q.closing {
                    return;
                }
            }
            notified.await;
        }
    }
}
