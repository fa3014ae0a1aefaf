//! The optional external inference endpoint (`PETTYSYNC_MOOD_ENDPOINT`), used the way a
//! SageMaker endpoint would be: the clip's WAV POSTed as `audio/wav`, `{"mood", "confidence"}`
//! back. Bounded: one request lasts at most [`TIMEOUT`] and an answer is at most
//! [`MAX_ANSWER_BYTES`]; anything else is an [`EndpointError`], and the caller falls back to
//! the built-in model.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;

use crate::config::Settings;
use crate::mood::{Mood, Prediction};

/// Longest one classification may take, from connecting to the answer's last byte.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the connection itself.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read (`{"mood":"happy","confidence":0.93}` is 35 bytes).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The endpoint and its client. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    url: url::Url,
    client: reqwest::Client,
}

/// Why the endpoint gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the request failed: {0}")]
    Request(String),
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    #[error("unusable answer: {0}")]
    Answer(String),
}

/// The answer's shape.
#[derive(Deserialize)]
struct Answer {
    mood: String,
    confidence: f64,
}

impl Endpoint {
    /// The endpoint of `PETTYSYNC_MOOD_ENDPOINT` (validated at start), if set.
    pub fn from_settings(settings: &Settings) -> Option<Endpoint> {
        let url = settings.mood_endpoint.as_deref()?;
        match Endpoint::new(url) {
            Ok(endpoint) => Some(endpoint),
            Err(error) => {
                tracing::error!(%error, "PETTYSYNC_MOOD_ENDPOINT unusable: the built-in model answers");
                None
            }
        }
    }

    pub fn new(url: &str) -> Result<Endpoint, EndpointError> {
        let url = url::Url::parse(url).map_err(|e| EndpointError::Request(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EndpointError::Request(e.to_string()))?;
        Ok(Endpoint { url, client })
    }

    /// The endpoint's answer for one WAV clip.
    pub async fn classify(&self, wav: Vec<u8>) -> Result<Prediction, EndpointError> {
        let request = |e: reqwest::Error| EndpointError::Request(e.to_string());
        let mut response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "audio/wav")
            .header(ACCEPT, "application/json")
            .body(wav)
            .send()
            .await
            .map_err(request)?;
        if !response.status().is_success() {
            return Err(EndpointError::Status(response.status().as_u16()));
        }
        let too_long = || EndpointError::Answer(format!("over {MAX_ANSWER_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(too_long());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body)
    }
}

/// `{"mood", "confidence"}` with a known mood and a confidence from 0 to 1.
fn parse(body: &[u8]) -> Result<Prediction, EndpointError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| EndpointError::Answer(e.to_string()))?;
    let mood = Mood::parse(&answer.mood)
        .ok_or_else(|| EndpointError::Answer(format!("unknown mood {:?}", answer.mood)))?;
    if !(0.0..=1.0).contains(&answer.confidence) {
        return Err(EndpointError::Answer(format!(
            "confidence {} outside 0–1",
            answer.confidence
        )));
    }
    Ok(Prediction {
        mood,
        confidence: answer.confidence,
        probs: vec![(mood, answer.confidence)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_needs_a_known_mood_and_a_confidence_from_zero_to_one() {
        let ok = parse(br#"{"mood":"sad","confidence":0.8,"model":"v7"}"#).unwrap();
        assert_eq!((ok.mood, ok.confidence), (Mood::Sad, 0.8));
        assert_eq!(ok.probs, vec![(Mood::Sad, 0.8)]);
        for bad in [
            &br#"{"mood":"grumpy","confidence":0.8}"#[..],
            br#"{"mood":"sad","confidence":1.5}"#,
            br#"{"mood":"sad"}"#,
            br#"<html>busy</html>"#,
        ] {
            assert!(
                matches!(parse(bad), Err(EndpointError::Answer(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
