//! Presigned GET URLs of media objects, cached per object in this process.
//!
//! A presigned GET does not depend on who reads it, and building one with the SDK (a full
//! request build and a SigV4 signature) cost more than the rest of a feed page. So a URL is
//! signed once per object and handed to every reader while at least half of its lifetime
//! (`media_url_ttl_s`) is left; after that the next reader gets a freshly signed one. A reader
//! therefore always gets a URL valid for at least `media_url_ttl_s / 2`.
//!
//! The cache holds at most [`MEDIA_URL_CACHE_CAP`] objects and forgets the oldest signed
//! first. A deleted post's object is forgotten at once on this node (another node's URL then
//! points at an object that is gone: S3 answers 404, nothing leaks).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::config::Settings;

/// Most media objects whose URL is kept (about 1 KiB each: ≈ 100 MiB at the cap).
pub const MEDIA_URL_CACHE_CAP: usize = 100_000;

/// A signed URL and the moment after which it is no longer handed out.
#[derive(Debug, Clone)]
struct Signed {
    url: String,
    reuse_until: SystemTime,
    /// Which signing this is, so the eviction queue can tell its stale entries.
    stamp: u64,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<String, Signed>,
    /// Keys in the order they were signed, with the stamp of that signing.
    order: VecDeque<(String, u64)>,
    next_stamp: u64,
}

impl Entries {
    fn fresh(&self, key: &str, now: SystemTime) -> Option<String> {
        self.by_key
            .get(key)
            .filter(|signed| now < signed.reuse_until)
            .map(|signed| signed.url.clone())
    }

    fn insert(&mut self, key: &str, url: String, reuse_until: SystemTime, cap: usize) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.by_key.insert(
            key.to_owned(),
            Signed {
                url,
                reuse_until,
                stamp,
            },
        );
        self.order.push_back((key.to_owned(), stamp));
        while self.by_key.len() > cap {
            let Some((oldest, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.by_key.get(&oldest).is_some_and(|s| s.stamp == stamp) {
                self.by_key.remove(&oldest);
            }
        }
        // Re-signed keys leave stale queue entries behind; keep the queue bounded too.
        if self.order.len() > 2 * cap.max(1) {
            let by_key = &self.by_key;
            self.order
                .retain(|(key, stamp)| by_key.get(key).is_some_and(|s| s.stamp == *stamp));
        }
    }

    fn forget(&mut self, key: &str) {
        self.by_key.remove(key);
    }
}

/// The S3 client, its bucket and URL lifetime, and the URLs signed so far.
pub struct MediaUrls {
    s3: aws_sdk_s3::Client,
    bucket: String,
    ttl: Duration,
    cap: usize,
    entries: Mutex<Entries>,
}

impl MediaUrls {
    pub fn new(s3: aws_sdk_s3::Client, settings: &Settings) -> Self {
        Self::with_cap(s3, settings, MEDIA_URL_CACHE_CAP)
    }

    fn with_cap(s3: aws_sdk_s3::Client, settings: &Settings, cap: usize) -> Self {
        Self {
            s3,
            bucket: settings.s3_bucket.clone(),
            ttl: Duration::from_secs(settings.media_url_ttl_s),
            cap,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// A presigned GET of `key`, valid for at least half of `media_url_ttl_s` from now.
    pub async fn url(&self, key: &str) -> anyhow::Result<String> {
        let now = SystemTime::now();
        if let Some(url) = self.lock().fresh(key, now) {
            metrics::counter!("pettysync_media_url_cache_hits_total").increment(1);
            return Ok(url);
        }
        metrics::counter!("pettysync_media_url_cache_misses_total").increment(1);
        let config = PresigningConfig::builder()
            .start_time(now)
            .expires_in(self.ttl)
            .build()?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .context("presigning a media download")?;
        let url = request.uri().to_owned();
        self.lock()
            .insert(key, url.clone(), now + self.ttl / 2, self.cap);
        Ok(url)
    }

    /// Forgets the object's URL (its post was deleted).
    pub fn forget(&self, key: &str) {
        self.lock().forget(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves a map that is still consistent: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_url_is_reused_until_its_reuse_deadline() {
        let mut entries = Entries::default();
        entries.insert("a", "url-a".to_owned(), at(100), 10);
        assert_eq!(entries.fresh("a", at(99)).as_deref(), Some("url-a"));
        assert_eq!(entries.fresh("a", at(100)), None);
        assert_eq!(entries.fresh("b", at(0)), None);
    }

    #[test]
    fn the_oldest_signed_object_is_forgotten_at_the_cap() {
        let mut entries = Entries::default();
        entries.insert("a", "1".to_owned(), at(100), 2);
        entries.insert("b", "2".to_owned(), at(100), 2);
        // Re-signing `a` makes it the newest: `b` goes first.
        entries.insert("a", "3".to_owned(), at(100), 2);
        entries.insert("c", "4".to_owned(), at(100), 2);
        assert_eq!(entries.by_key.len(), 2);
        assert_eq!(entries.fresh("a", at(0)).as_deref(), Some("3"));
        assert_eq!(entries.fresh("b", at(0)), None);
        assert_eq!(entries.fresh("c", at(0)).as_deref(), Some("4"));
    }

    #[test]
    fn the_eviction_queue_stays_bounded_when_one_object_is_resigned() {
        let mut entries = Entries::default();
        for n in 0..100 {
            entries.insert("a", n.to_string(), at(100), 4);
        }
        assert!(entries.order.len() <= 8, "{}", entries.order.len());
        assert_eq!(entries.fresh("a", at(0)).as_deref(), Some("99"));
    }

    #[test]
    fn a_forgotten_object_is_signed_again() {
        let mut entries = Entries::default();
        entries.insert("a", "1".to_owned(), at(100), 2);
        entries.forget("a");
        assert_eq!(entries.fresh("a", at(0)), None);
    }
}
