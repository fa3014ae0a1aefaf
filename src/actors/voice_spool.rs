//! `VoiceSpoolDrainer`: uploads the voice clips that S3 did not take when they arrived (they
//! wait in PostgreSQL's `voice_spool`), records them in `voice_clips` and takes them out of
//! the spool. Claims are leased (`FOR UPDATE SKIP LOCKED`), so several servers share the
//! spool; a clip whose upload fails is tried again with backoff. A recorded clip of a pet
//! wakes the mood supervisor.

use std::time::Duration;

use actix::prelude::*;

use sqlx::PgPool;

use crate::actors::mood::Wake;
use crate::retry::Backoff;
use crate::store::voice as store;

/// How often the spool is looked at.
const DRAIN_INTERVAL: Duration = Duration::from_secs(2);
/// Clips claimed per round (each up to 430 KiB).
const DRAIN_BATCH: i64 = 8;
/// How long a claimed clip is reserved for the server that claimed it: far above a round.
const CLAIM_LEASE: Duration = Duration::from_secs(300);
/// Waits before a failed clip is tried again: doubled per failure up to the last.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// Where spooled clips come from and go to. Cheap to clone.
#[derive(Clone)]
pub struct Spool {
    pub pg: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// The mood supervisor, told of each recorded clip of a pet.
    pub mood: Recipient<Wake>,
}

pub struct VoiceSpoolDrainer {
    spool: Spool,
    draining: bool,
}

impl VoiceSpoolDrainer {
    pub fn new(spool: Spool) -> Self {
        Self {
            spool,
            draining: false,
        }
    }

    fn drain(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        self.draining = true;
        let spool = self.spool.clone();
        ctx.spawn(crate::rt::guarded(drain_round(spool)).into_actor(self).map(
            |result, actor, ctx| {
                actor.draining = false;
                match result {
                    // A full round: there may be more due now.
                    Ok(claimed) if claimed as i64 >= DRAIN_BATCH => actor.drain(ctx),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(error = ?error, "could not read the voice spool")
                    }
                }
            },
        ));
    }
}

/// One round: claims due clips and uploads each; returns how many it claimed.
async fn drain_round(spool: Spool) -> Result<usize, sqlx::Error> {
    let claimed = store::claim_spooled(&spool.pg, DRAIN_BATCH, CLAIM_LEASE).await?;
    let count = claimed.len();
    for spooled in claimed {
        let clip = &spooled.clip;
        match store::upload(&spool.s3, &spool.bucket, clip, spooled.wav).await {
            Ok(key) => {
                store::unspool(&spool.pg, clip, &key).await?;
                metrics::counter!("pettysync_voice_clips_total").increment(1);
                metrics::counter!("pettysync_voice_unspooled_total").increment(1);
                if clip.pet_id.is_some() {
                    spool.mood.do_send(Wake);
                }
            }
            Err(error) => {
                let attempt = spooled.attempts.max(0) as u32;
                let backoff = RETRY_BACKOFF.after(attempt + 1);
                let message: String = format!("{error:#}").chars().take(500).collect();
                store::spool_failed(&spool.pg, clip, backoff, &message).await?;
            }
        }
    }
    Ok(count)
}

impl Actor for VoiceSpoolDrainer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(DRAIN_INTERVAL, |actor, ctx| actor.drain(ctx));
    }
}

impl Supervised for VoiceSpoolDrainer {}
