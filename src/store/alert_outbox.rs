//! The alert outbox in MongoDB: an alert is written here in the same batch as the collar
//! message that raised it, before that message is acknowledged, and removed once it is in
//! PostgreSQL with its notifications. Documents are keyed by the alert's id, which is
//! derived from what raised it, so writing one twice is harmless.

use std::collections::HashSet;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::migrate::ALERT_OUTBOX_COLLECTION;

fn outbox(db: &mongodb::Database) -> mongodb::Collection<Document> {
    db.collection(ALERT_OUTBOX_COLLECTION)
}

/// Inserts the documents whose `_id` (a string) is not in the outbox yet.
pub async fn insert(db: &mongodb::Database, docs: Vec<Document>) -> mongodb::error::Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Bson> = docs.iter().filter_map(|d| d.get("_id").cloned()).collect();
    let present: HashSet<String> = outbox(db)
        .find(doc! { "_id": { "$in": ids } })
        .projection(doc! { "_id": 1 })
        .await?
        .try_filter_map(|d| async move { Ok(d.get_str("_id").ok().map(str::to_owned)) })
        .try_collect()
        .await?;
    let fresh: Vec<Document> = docs
        .into_iter()
        .filter(|d| d.get_str("_id").is_ok_and(|id| !present.contains(id)))
        .collect();
    if !fresh.is_empty() {
        outbox(db).insert_many(fresh).await?;
    }
    Ok(())
}

/// Up to `limit` alerts still in the outbox, oldest first.
pub async fn pending(db: &mongodb::Database, limit: i64) -> mongodb::error::Result<Vec<Document>> {
    outbox(db)
        .find(doc! {})
        .sort(doc! { "raised_at": 1 })
        .limit(limit)
        .await?
        .try_collect()
        .await
}

/// Removes the alerts with these ids (they are in PostgreSQL now).
pub async fn remove(db: &mongodb::Database, ids: &[String]) -> mongodb::error::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    outbox(db)
        .delete_many(doc! { "_id": { "$in": ids } })
        .await?;
    Ok(())
}
