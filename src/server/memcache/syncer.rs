//! The door's one fsync thread: connections append their writes at once (deferred, see
//! [`DurableKVCache::set_deferred`]) and wait here, without a thread each, for the log's
//! newest write to be durable. The thread syncs the newest ticket asked for; every write
//! appended while one fsync runs is covered by the next, so the fsyncs keep pace with the
//! disk however many connections write.

use std::sync::{Condvar, Mutex};

use tokio::sync::watch;

use crate::Ticket;
use crate::durable::DurableKVCache;
use crate::error::{Error, Result};
use crate::sync::lock;

/// What the thread has made durable, or failed to.
#[derive(Debug, Clone, Default)]
struct Done {
    durable: Option<Ticket>,
    failed: Option<(Ticket, String)>,
}

#[derive(Debug, Default)]
struct Asked {
    newest: Option<Ticket>,
    stop: bool,
    /// The thread waits on the condvar: a new ticket must wake it. (While it syncs it needs
    /// no wake — it looks for tickets before it sleeps — and a notify costs a system call.)
    idle: bool,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(super) struct Syncer {
    asked: Mutex<Asked>,
    wake: Condvar,
    done: watch::Sender<Done>,
}

impl Syncer {
    pub(super) fn new() -> Syncer {
        Syncer {
            asked: Mutex::new(Asked::default()),
            wake: Condvar::new(),
            done: watch::channel(Done::default()).0,
        }
    }

    /// The fsync thread's loop over `log`, until [`stop`](Self::stop).
    pub(super) fn work(&self, log: &DurableKVCache) {
        loop {
            let ticket = {
                let mut asked = lock(&self.asked);
                loop {
                    if let Some(t) = asked.newest.take() {
                        break t;
                    }
                    if asked.stop {
                        return;
                    }
                    asked.idle = true;
                    asked = crate::sync::wait(&self.wake, asked);
                    asked.idle = false;
                }
            };
            let result = log.wait_durable(ticket);
            self.done.send_modify(|d| match result {
                Ok(()) => d.durable = Some(d.durable.map_or(ticket, |t| t.max(ticket))),
                Err(e) => d.failed = Some((ticket, e.to_string())),
            });
        }
    }

    /// Ends the thread once the tickets asked for are synced.
    pub(super) fn stop(&self) {
        lock(&self.asked).stop = true;
        self.wake.notify_all();
    }

    /// Returns once the write of `ticket` (and every one before it) is durable; fails when
    /// its fsync failed or a recovery discarded it.
    pub(super) async fn wait(&self, log: &DurableKVCache, ticket: Ticket) -> Result<()> {
        if log.is_durable(ticket) {
            return Ok(());
        }
        let mut done = self.done.subscribe();
        let sleeping = {
            let mut asked = lock(&self.asked);
            asked.newest = Some(asked.newest.map_or(ticket, |t| t.max(ticket)));
            std::mem::take(&mut asked.idle)
        };
        if sleeping {
            self.wake.notify_one();
        }
        loop {
            {
                let d = done.borrow_and_update();
                if let Some(t) = d.durable {
                    if t.covers(&ticket) {
                        return Ok(());
                    }
                    if t.supersedes(&ticket) {
                        return Err(discarded());
                    }
                }
                if let Some((t, why)) = &d.failed
                    && (t.covers(&ticket) || t.supersedes(&ticket))
                {
                    return Err(Error::Poisoned {
                        reason: why.clone(),
                    });
                }
            }
            if log.is_durable(ticket) {
                return Ok(());
            }
            if done.changed().await.is_err() {
                return Err(discarded());
            }
        }
    }
}

fn discarded() -> Error {
    Error::Poisoned {
        reason: "an earlier failure; this write was discarded when the cache recovered from it"
            .into(),
    }
}
