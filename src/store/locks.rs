//! Jobs that one node at a time may run (archival, roll-ups, retraining): a PostgreSQL
//! session-level advisory lock held on a connection of its own for the length of the pass.
//! A node that dies mid-pass drops its connection, and PostgreSQL releases the lock with it;
//! no home-made lease, no clock.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

/// A job that runs on one node at a time; its key names its advisory lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Archival,
    Rollup,
    MoodRetraining,
}

impl Job {
    /// The advisory lock's key: fixed, so every node of every version agrees.
    fn key(self) -> i64 {
        // "PSYNC" in ASCII, then the job.
        const BASE: i64 = 0x5053_594E_4300_0000;
        BASE + match self {
            Job::Archival => 1,
            Job::Rollup => 2,
            Job::MoodRetraining => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Archival => "archival",
            Job::Rollup => "rollup",
            Job::MoodRetraining => "mood_retraining",
        }
    }
}

/// The lock of a job while this node runs it. [`Exclusive::release`] gives it back; dropped
/// without that, its connection is closed, which releases it too.
pub struct Exclusive {
    conn: Option<PoolConnection<Postgres>>,
    job: Job,
}

/// Takes the job's lock if no other node holds it; `None` when one does.
pub async fn try_exclusive(pg: &PgPool, job: Job) -> Result<Option<Exclusive>, sqlx::Error> {
    let mut conn = pg.acquire().await?;
    let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(job.key())
        .fetch_one(&mut *conn)
        .await?;
    Ok(taken.then_some(Exclusive {
        conn: Some(conn),
        job,
    }))
}

impl Exclusive {
    pub fn job(&self) -> Job {
        self.job
    }

    /// Gives the lock back and returns the connection to the pool.
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        if let Some(mut conn) = self.conn.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.job.key())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not released (a failed or cancelled pass): closing the session releases the
            // lock, and no pooled connection keeps holding it.
            drop(conn.detach());
        }
    }
}
