//! One archive object: the NDJSON line of a sample (the spec's field names), the zstd writer
//! that spools an object to a temporary file while hashing it, and the reader that takes an
//! object back from S3 into the samples it holds. Objects go through a temporary file, never
//! through memory, so a day of any size costs a fixed buffer.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use aws_sdk_s3::Client as S3;
use mongodb::bson::Document;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ArchiveError;
use crate::store::fields::{integer, number};

/// zstd level of archive objects: 3 is zstd's default, fast and already ~10× on telemetry.
pub const ZSTD_LEVEL: i32 = 3;
/// Longest NDJSON line read back from an object: a sample is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// One stored sample as the archive writes it: the collar protocol's names plus `pet_id`
/// and `received_at`, absent fields omitted, in the spec's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedSample {
    pub serial: String,
    pub seq: i64,
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<i64>,
}

impl ArchivedSample {
    /// The sample of a MongoDB `telemetry` document as persistence wrote it; `None` for a
    /// document without its identity (collar, seq, time), which no writer of ours makes.
    pub fn from_document(doc: &Document) -> Option<Self> {
        let meta = doc.get_document("meta").ok()?;
        Some(Self {
            serial: meta.get_str("collar").ok()?.to_owned(),
            seq: integer(doc, "seq")?,
            ts: doc.get_datetime("at").ok()?.timestamp_millis(),
            lat: number(doc, "lat"),
            lon: number(doc, "lon"),
            acc: number(doc, "acc"),
            hr: integer(doc, "hr"),
            steps: integer(doc, "steps"),
            act: doc.get_str("act").ok().map(str::to_owned),
            bat: integer(doc, "bat"),
            temp: number(doc, "temp"),
            pet_id: meta.get_str("pet").ok().map(str::to_owned),
            received_at: doc
                .get_datetime("received_at")
                .ok()
                .map(|at| at.timestamp_millis()),
        })
    }
}

/// A temporary file removed when dropped, whatever path the pass took.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new() -> Self {
        let name = format!("pettysync-archive-{}.tmp", uuid::Uuid::new_v4().simple());
        Self {
            path: std::env::temp_dir().join(name),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bytes written through it are hashed and counted on their way to the file.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A finished object on disk: what the manifest says of it.
pub struct Spooled {
    pub file: TempFile,
    pub sha256: String,
    pub bytes: u64,
}

/// Writes samples as zstd NDJSON into a temporary file, hashing the compressed bytes.
pub struct ObjectWriter {
    file: TempFile,
    encoder: zstd::stream::write::Encoder<'static, Hashing<BufWriter<File>>>,
}

impl ObjectWriter {
    pub fn create() -> Result<Self, ArchiveError> {
        let file = TempFile::new();
        let out = Hashing {
            inner: BufWriter::new(File::create(&file.path)?),
            hash: Sha256::new(),
            bytes: 0,
        };
        let encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
        Ok(Self { file, encoder })
    }

    pub fn push(&mut self, sample: &ArchivedSample) -> Result<(), ArchiveError> {
        serde_json::to_writer(&mut self.encoder, sample).map_err(std::io::Error::from)?;
        self.encoder.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(self) -> Result<Spooled, ArchiveError> {
        let mut out = self.encoder.finish()?;
        out.flush()?;
        Ok(Spooled {
            file: self.file,
            sha256: hex::encode(out.hash.finalize()),
            bytes: out.bytes,
        })
    }
}

/// An object fetched from S3 into a temporary file, with the SHA-256 of its bytes.
pub struct Fetched {
    pub file: TempFile,
    pub sha256: String,
}

/// Downloads `key` chunk by chunk into a temporary file, hashing it on the way.
pub async fn fetch(s3: &S3, bucket: &str, key: &str) -> Result<Fetched, ArchiveError> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| ArchiveError::s3("get", key, e))?;
    let file = TempFile::new();
    let mut out = BufWriter::new(File::create(&file.path)?);
    let mut hash = Sha256::new();
    let mut body = object.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| ArchiveError::S3(format!("read {key}: {e}")))?
    {
        hash.update(&chunk);
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(Fetched {
        file,
        sha256: hex::encode(hash.finalize()),
    })
}

/// The samples of a fetched object, one at a time, oldest first.
pub fn samples(
    path: &Path,
) -> Result<impl Iterator<Item = Result<ArchivedSample, ArchiveError>>, ArchiveError> {
    let decoder = zstd::stream::read::Decoder::new(File::open(path)?)?;
    let lines = BufReader::new(decoder).lines();
    Ok(lines.map(|line| {
        let line = line?;
        if line.len() > MAX_LINE_BYTES {
            return Err(ArchiveError::Corrupt(
                "a line longer than a sample can be".into(),
            ));
        }
        serde_json::from_str(&line).map_err(|e| ArchiveError::Corrupt(e.to_string()))
    }))
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, DateTime as BsonDateTime};

    use super::*;

    #[test]
    fn a_stored_document_becomes_a_line_with_the_spec_names_in_order_and_absent_fields_omitted() {
        let stored = doc! {
            "at": BsonDateTime::from_millis(1_000), "meta": { "collar": "SN-1", "pet": null },
            "seq": 7_i64, "received_at": BsonDateTime::from_millis(2_000), "hr": 91_i32,
        };
        let sample = ArchivedSample::from_document(&stored).expect("a full identity");
        assert_eq!(
            serde_json::to_string(&sample).expect("serialises"),
            r#"{"serial":"SN-1","seq":7,"ts":1000,"hr":91,"received_at":2000}"#
        );
    }

    #[test]
    fn what_the_writer_spools_the_reader_gives_back_with_its_checksum() {
        let samples: Vec<ArchivedSample> = (0..3)
            .map(|seq| ArchivedSample {
                serial: "SN-1".into(),
                seq,
                ts: seq * 10,
                lat: Some(13.7),
                lon: Some(100.5),
                acc: None,
                hr: None,
                steps: Some(seq),
                act: Some("walk".into()),
                bat: None,
                temp: None,
                pet_id: None,
                received_at: None,
            })
            .collect();
        let mut writer = ObjectWriter::create().expect("a temp file");
        for sample in &samples {
            writer.push(sample).expect("written");
        }
        let spooled = writer.finish().expect("finished");
        let bytes = std::fs::read(&spooled.file.path).expect("readable");
        assert_eq!(spooled.bytes as usize, bytes.len());
        assert_eq!(spooled.sha256, hex::encode(Sha256::digest(&bytes)));
        let back: Vec<ArchivedSample> = samples_of(&spooled.file.path)
            .expect("a zstd stream")
            .collect::<Result<_, _>>()
            .expect("every line parses");
        assert_eq!(back, samples);
    }

    #[test]
    fn a_later_part_has_its_number_in_the_key() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 22).expect("a date");
        assert_eq!(
            super::super::object_key("SN-1", day, 0),
            "archive/telemetry/v1/date=2026-10-22/serial=SN-1.ndjson.zst"
        );
        assert_eq!(
            super::super::object_key("SN-1", day, 2),
            "archive/telemetry/v1/date=2026-10-22/serial=SN-1.part-2.ndjson.zst"
        );
    }

    use super::samples as samples_of;
}
