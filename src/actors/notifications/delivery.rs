//! Delivery: claims due pushes from the outbox and publishes them to SNS, a bounded number
//! at once, and records each outcome. A push stays owed until SNS takes it: passing
//! failures are retried with doubling backoff; a disabled or deleted endpoint disables its
//! device for good; SNS refusing the message closes it; and a push still not delivered
//! [`MAX_PUSH_AGE`] after its notification is closed as expired (the notification itself
//! stays listed), since a day-old "Rex left Home" only misleads.

use std::time::Duration;

use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};
use chrono::Utc;
use futures_util::StreamExt;
use sqlx::PgPool;
use tracing::Instrument;

use super::push;
use crate::store::notifications::outbox::{self, DuePush};

/// Pushes claimed per drain round.
pub(super) const DRAIN_BATCH: i64 = 64;
/// SNS publishes in flight at once.
const MAX_CONCURRENT_PUBLISHES: usize = 8;
/// Longest wait for one publish (the SDK's own retries included).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a claimed push is reserved for the server that claimed it: far above a whole
/// round (`DRAIN_BATCH / MAX_CONCURRENT_PUBLISHES × PUBLISH_TIMEOUT`).
const CLAIM_LEASE: Duration = Duration::from_secs(600);
/// A push not delivered this long after its notification is closed as expired.
const MAX_PUSH_AGE: Duration = Duration::from_secs(24 * 3600);
/// Longest `last_error` stored.
const MAX_ERROR_CHARS: usize = 500;

/// One drain round: claims due pushes and sends them; returns how many it claimed.
pub(super) async fn drain_round(
    pg: &PgPool,
    sns: &aws_sdk_sns::Client,
) -> Result<usize, sqlx::Error> {
    let due = outbox::claim_due(pg, DRAIN_BATCH, CLAIM_LEASE).await?;
    let claimed = due.len();
    futures_util::stream::iter(due)
        .for_each_concurrent(MAX_CONCURRENT_PUBLISHES, |due| async move {
            let span = tracing::info_span!("push", outbox = due.id, device = %due.device_id);
            if let Err(error) = send(pg, sns, &due).instrument(span).await {
                // The lease makes it due again later.
                tracing::error!(error = ?error, outbox = due.id, "could not record a push outcome");
            }
        })
        .await;
    Ok(claimed)
}

/// Sends one push and records the outcome.
async fn send(pg: &PgPool, sns: &aws_sdk_sns::Client, due: &DuePush) -> Result<(), sqlx::Error> {
    if !due.device_enabled {
        return outbox::close(pg, due.id, "the device is disabled", false).await;
    }
    let age = (Utc::now() - due.created_at).to_std().unwrap_or_default();
    if age > MAX_PUSH_AGE {
        metrics::counter!("pettysync_pushes_expired_total").increment(1);
        return outbox::close(pg, due.id, "expired: not delivered within 24 hours", false).await;
    }
    let text = push::PushText {
        title: text_field(&due.data, "title"),
        body: text_field(&due.data, "body"),
    };
    let message = push::sns_message(&due.kind, due.notification_id, &text, &due.data);
    let publish = sns
        .publish()
        .target_arn(&due.endpoint_arn)
        .message_structure("json")
        .message(message)
        .send();
    let (failure, error) = match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
        Ok(Ok(_)) => {
            metrics::counter!("pettysync_pushes_sent_total").increment(1);
            return outbox::mark_delivered(pg, due.id).await;
        }
        Ok(Err(error)) => (
            push::classify(error.code(), error.message()),
            match (error.code(), error.message()) {
                (Some(code), message) => format!("SNS {code}: {}", message.unwrap_or_default()),
                (None, _) => format!("SNS request failed: {}", DisplayErrorContext(&error)),
            },
        ),
        Err(_) => (push::Failure::Transient, "SNS publish timed out".to_owned()),
    };
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    match failure {
        push::Failure::EndpointGone => {
            metrics::counter!("pettysync_pushes_failed_total", "reason" => "endpoint_disabled")
                .increment(1);
            tracing::info!(error, "SNS endpoint disabled; device disabled");
            outbox::disable_device(pg, due.device_id, due.id, &error).await
        }
        push::Failure::Rejected => {
            metrics::counter!("pettysync_pushes_failed_total", "reason" => "rejected").increment(1);
            tracing::warn!(error, "SNS refused a push; giving it up");
            outbox::close(pg, due.id, &error, true).await
        }
        push::Failure::Transient => {
            metrics::counter!("pettysync_pushes_failed_total", "reason" => "transient")
                .increment(1);
            let after = push::backoff(due.attempts + 1);
            tracing::warn!(
                error,
                retry_in_s = after.as_secs(),
                "push failed; will retry"
            );
            outbox::reschedule(pg, due.id, after, &error).await
        }
    }
}

fn text_field(data: &serde_json::Value, key: &str) -> String {
    data.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("PettySync")
        .to_owned()
}
