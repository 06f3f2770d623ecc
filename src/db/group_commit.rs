//! Group commit: single-signal submissions that arrive together share one statement.
//!
//! A durable commit waits for its WAL flush, so however small a transaction is, a
//! database commits only so many of them per second. Submissions are therefore queued,
//! and a committer thread takes everything waiting in its queue (up to [`MAX_GROUP`])
//! and stores it with one statement, which PostgreSQL commits as one transaction: one
//! flush for many signals. Nobody waits on purpose to fill a group; groups grow only
//! while a committer is busy, so a lone submission is stored at once.
//!
//! Each submitter always goes to the same committer, so two groups holding signals of
//! one submitter never run at once and cannot both pass its quota check.
//!
//! Every submitter is answered only after the statement holding its signal committed,
//! and each signal is in exactly one statement, so an acknowledged signal is counted
//! exactly once. When PostgreSQL refuses a group (so it certainly rolled back), its
//! signals are stored one by one, so that one bad signal cannot fail its neighbours.
//! After any other failure the group may have committed: the database is asked which of
//! its signals it holds, and only the others are answered 503.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread;

use prometheus::Histogram;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::DbPool;
use crate::db::queries::signals::{self, Admit, NewSignal, Quota, StoredSignal};
use crate::error::ApiError;

/// The most signals stored by one statement (as many as one batch request may hold).
pub const MAX_GROUP: usize = 500;
/// Submissions that may wait for one committer; beyond that intake answers 503.
const QUEUE_CAPACITY: usize = 4096;

/// What became of one submitted signal.
#[derive(Debug)]
pub enum Submitted {
    Stored(StoredSignal),
    /// The submitter's quota is used up; it frees room after this many seconds.
    OverQuota {
        retry_after_secs: u64,
    },
}

struct Pending {
    signal: NewSignal,
    reply: oneshot::Sender<Result<Submitted, ApiError>>,
}

/// The handle request handlers submit through; the committer threads stop once every
/// handle is dropped and the queue is empty.
#[derive(Clone)]
pub struct GroupCommitter {
    queues: Vec<SyncSender<Pending>>,
}

impl GroupCommitter {
    /// Starts `committers` threads storing signals with connections from `pool`.
    /// Each group's size is observed in `group_sizes`.
    pub fn start(
        pool: DbPool,
        quota: Quota,
        committers: usize,
        group_sizes: Histogram,
    ) -> std::io::Result<Self> {
        let queues = (0..committers.max(1))
            .map(|n| {
                let (queue, receiver) = mpsc::sync_channel(QUEUE_CAPACITY);
                let (pool, group_sizes) = (pool.clone(), group_sizes.clone());
                thread::Builder::new()
                    .name(format!("group-commit-{n}"))
                    .spawn(move || {
                        while let Some(group) = next_group(&receiver) {
                            group_sizes.observe(group.len() as f64);
                            commit(&pool, quota, group);
                        }
                    })?;
                Ok(queue)
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { queues })
    }

    /// Stores `signal` in the next group and waits until that group has committed.
    pub async fn submit(&self, signal: NewSignal) -> Result<Submitted, ApiError> {
        let (reply, answer) = oneshot::channel();
        let committer = (signal.submitted_by.as_u128() % self.queues.len() as u128) as usize;
        self.queues[committer]
            .try_send(Pending { signal, reply })
            .map_err(|err| match err {
                TrySendError::Full(_) => ApiError::Unavailable {
                    reason: "intake is saturated".into(),
                },
                TrySendError::Disconnected(_) => {
                    ApiError::internal(anyhow::anyhow!("the group committers have stopped"))
                }
            })?;
        answer.await.map_err(|_| {
            ApiError::internal(anyhow::anyhow!("a group committer stopped mid-commit"))
        })?
    }
}

/// Blocks for the first waiting submission, then takes whatever else is already queued.
/// `None` once every handle is gone.
fn next_group(receiver: &Receiver<Pending>) -> Option<Vec<Pending>> {
    let mut group = vec![receiver.recv().ok()?];
    while group.len() < MAX_GROUP {
        match receiver.try_recv() {
            Ok(pending) => group.push(pending),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(group)
}

/// Whether PostgreSQL refused the statement (for the data in it, or because a
/// concurrent write locked the same cells in another order): then it rolled back for
/// certain, and storing the signals one by one cannot store any of them twice. Any other
/// failure (a lost connection, say) may have come after the COMMIT.
fn certainly_rolled_back(err: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind as Kind;
    match err {
        diesel::result::Error::DatabaseError(
            Kind::UniqueViolation
            | Kind::ForeignKeyViolation
            | Kind::NotNullViolation
            | Kind::CheckViolation
            | Kind::SerializationFailure,
            _,
        ) => true,
        diesel::result::Error::DatabaseError(_, info) => {
            info.message().contains("deadlock detected")
        }
        _ => false,
    }
}

fn commit(pool: &DbPool, quota: Quota, group: Vec<Pending>) {
    let signals: Vec<NewSignal> = group.iter().map(|p| p.signal).collect();
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => return answer_all(group, &ApiError::from(err)),
    };
    match store(&mut conn, quota, &signals) {
        Ok(outcomes) => {
            for (pending, outcome) in group.into_iter().zip(outcomes) {
                // A submitter that went away no longer needs its answer; its signal is stored.
                let _ = pending.reply.send(Ok(outcome));
            }
        }
        Err(err) if group.len() > 1 && certainly_rolled_back(&err) => {
            drop(conn);
            tracing::warn!(
                error = %err,
                size = group.len(),
                "group insert refused; storing one by one"
            );
            for pending in group {
                commit(pool, quota, vec![pending]);
            }
        }
        Err(err) => {
            drop(conn);
            settle(pool, group, &ApiError::from(err));
        }
    }
}

/// After a failure that may have come after the COMMIT (a lost connection, say), asks
/// the database which of the group's signals it holds: those are answered as stored, the
/// others 503, so that a plain resend cannot store a signal twice.
fn settle(pool: &DbPool, group: Vec<Pending>, err: &ApiError) {
    let ids: Vec<Uuid> = group.iter().map(|p| p.signal.id).collect();
    let found = pool
        .get()
        .map_err(ApiError::from)
        .and_then(|mut conn| signals::stored(&mut conn, &ids));
    let Ok(found) = found else {
        return answer_all(group, err);
    };
    let mut found: HashMap<Uuid, StoredSignal> = found.into_iter().map(|s| (s.id, s)).collect();
    let mut missing = Vec::new();
    for pending in group {
        match found.remove(&pending.signal.id) {
            Some(row) => {
                let _ = pending.reply.send(Ok(Submitted::Stored(row)));
            }
            None => missing.push(pending),
        }
    }
    if !missing.is_empty() {
        answer_all(
            missing,
            &ApiError::unavailable("the signal was not stored; send it again"),
        );
    }
}

/// Gives every submitter of the group the same failure.
fn answer_all(group: Vec<Pending>, err: &ApiError) {
    tracing::warn!(error = %err, size = group.len(), "group commit failed");
    let shared = || match err {
        ApiError::Unavailable { reason } => ApiError::Unavailable {
            reason: reason.clone(),
        },
        ApiError::Validation(errors) => ApiError::Validation(errors.clone()),
        _ => ApiError::Unavailable {
            reason: "the signal may not have been stored; send it again with an Idempotency-Key"
                .into(),
        },
    };
    for pending in group {
        let _ = pending.reply.send(Err(shared()));
    }
}

/// Stores the group in one statement and says, per signal, what became of it.
fn store(
    conn: &mut diesel::PgConnection,
    quota: Quota,
    signals: &[NewSignal],
) -> Result<Vec<Submitted>, diesel::result::Error> {
    let mut stored: HashMap<Uuid, StoredSignal> =
        signals::insert(conn, quota, Admit::EachInTurn, signals)?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
    Ok(signals
        .iter()
        .map(|signal| match stored.remove(&signal.id) {
            Some(row) => Submitted::Stored(row),
            None => Submitted::OverQuota {
                retry_after_secs: quota.retry_after_secs(),
            },
        })
        .collect())
}
