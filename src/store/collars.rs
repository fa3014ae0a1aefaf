//! Collars: provisioning with a one-time pairing code, pairing to a pet, unpairing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::Rng;
use sqlx::PgPool;

use crate::auth::{constant_time_eq, token_hash};
use crate::ids::{CollarSerial, PetId};

/// Characters of a pairing code: no 0/O or 1/I/L to misread off a box.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a pairing code (about 49 bits), typed in two groups of five.
const CODE_LEN: usize = 10;

/// A collar paired to a pet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pairing {
    pub serial: String,
    pub pet_id: PetId,
    pub paired_at: DateTime<Utc>,
    pub interval_s: i32,
}

/// A pairing as just made: the new pairing code replaces the one used (shown once, so the
/// owner can hand the collar on).
#[derive(Debug, Clone)]
pub struct NewPairing {
    pub pairing: Pairing,
    pub pairing_code: String,
}

/// A span of time a collar was on one pet (epoch ms; `to_ms` is `None` while it still is).
/// `pet_id` is `None` when that pet was deleted since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingSpan {
    pub pet_id: Option<PetId>,
    pub from_ms: i64,
    pub to_ms: Option<i64>,
}

/// A pairing as stored: pet (none once deleted), paired, unpaired.
type SerialSpanRow = (String, Option<PetId>, DateTime<Utc>, Option<DateTime<Utc>>);

/// How far back pairings are loaded for a collar actor: as far as a backlog sample may be
/// old (collar protocol: 30 days), with a day to spare.
const PAIRING_HISTORY_DAYS: i32 = 31;

/// Why a pairing did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum PairError {
    /// Unknown serial or wrong code: deliberately one case, so the answer reveals neither.
    BadCredentials,
    CollarTaken,
    PetHasCollar,
}

/// A fresh pairing code, `XXXXX-XXXXX`.
pub fn new_pairing_code() -> String {
    let chars: String = (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[OsRng.gen_range(0..CODE_ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..CODE_LEN / 2], &chars[CODE_LEN / 2..])
}

/// Codes are compared without case or dashes, as people type them.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Provisions a collar and returns its pairing code; `Ok(None)` when the serial exists.
pub async fn provision(pg: &PgPool, serial: &CollarSerial) -> Result<Option<String>, sqlx::Error> {
    let code = new_pairing_code();
    let result = sqlx::query(
        "INSERT INTO collars (serial, pairing_code_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(serial)
    .bind(token_hash(&normalize(&code)))
    .execute(pg)
    .await?;
    Ok((result.rows_affected() == 1).then_some(code))
}

/// Pairs the collar to the pet when the code is right and both are free; the code used is
/// replaced by a new one, and the pairing is recorded in the collar's history.
pub async fn pair(
    pg: &PgPool,
    pet: PetId,
    serial: &str,
    code: &str,
) -> Result<Result<NewPairing, PairError>, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let row: Option<(Vec<u8>, Option<PetId>)> = sqlx::query_as(
        "SELECT pairing_code_hash, pet_id FROM collars WHERE serial = $1 FOR UPDATE",
    )
    .bind(serial)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((stored, paired_to)) = row else {
        return Ok(Err(PairError::BadCredentials));
    };
    if !constant_time_eq(&stored, &token_hash(&normalize(code))) {
        return Ok(Err(PairError::BadCredentials));
    }
    match paired_to {
        Some(other) if other != pet => return Ok(Err(PairError::CollarTaken)),
        _ => {}
    }
    let has_other: Option<(String,)> =
        sqlx::query_as("SELECT serial FROM collars WHERE pet_id = $1 AND serial <> $2")
            .bind(pet)
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?;
    if has_other.is_some() {
        return Ok(Err(PairError::PetHasCollar));
    }
    let pairing_code = new_pairing_code();
    let pairing: Pairing = sqlx::query_as(
        "UPDATE collars SET pet_id = $2,
                            paired_at = CASE WHEN pet_id IS NULL THEN now() ELSE paired_at END,
                            pairing_code_hash = $3
         WHERE serial = $1
         RETURNING serial, pet_id, paired_at, interval_s",
    )
    .bind(serial)
    .bind(pet)
    .bind(token_hash(&normalize(&pairing_code)))
    .fetch_one(&mut *tx)
    .await?;
    if paired_to.is_none() {
        sqlx::query("INSERT INTO collar_pairings (serial, pet_id, paired_at) VALUES ($1, $2, $3)")
            .bind(serial)
            .bind(pet)
            .bind(pairing.paired_at)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(NewPairing {
        pairing,
        pairing_code,
    }))
}

/// Frees the pet's collar, closing its pairing in the history; false when it had none.
pub async fn unpair(pg: &PgPool, pet: PetId) -> Result<bool, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let result =
        sqlx::query("UPDATE collars SET pet_id = NULL, paired_at = NULL WHERE pet_id = $1")
            .bind(pet)
            .execute(&mut *tx)
            .await?;
    sqlx::query(
        "UPDATE collar_pairings SET unpaired_at = now() WHERE pet_id = $1 AND unpaired_at IS NULL",
    )
    .bind(pet)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(result.rows_affected() > 0)
}

/// Stores the collar's own reporting interval (what it returns to after live mode).
pub async fn set_interval(pg: &PgPool, serial: &str, interval_s: u32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE collars SET interval_s = $2 WHERE serial = $1")
        .bind(serial)
        .bind(interval_s as i32)
        .execute(pg)
        .await?;
    Ok(())
}

/// What a collar actor needs to know about its collar: the pet it is on, how often it
/// reports, the pet's heart-rate band and fences.
#[derive(Debug, Clone)]
pub struct CollarSetup {
    pub serial: String,
    pub pet_id: Option<PetId>,
    pub interval_s: i32,
    pub species: Option<String>,
    pub hr_min: Option<i32>,
    pub hr_max: Option<i32>,
    pub fences: Vec<FenceSetup>,
    /// The collar's pairings of the last [`PAIRING_HISTORY_DAYS`] days, oldest first.
    pub pairings: Vec<PairingSpan>,
}

/// A fence as stored: id, `safe`/`keep_out`, and its validated geometry JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FenceSetup {
    pub id: crate::ids::GeofenceId,
    pub kind: String,
    pub geometry: sqlx::types::Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct PetFenceRow {
    pet_id: PetId,
    id: crate::ids::GeofenceId,
    kind: String,
    geometry: sqlx::types::Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct SetupRow {
    serial: String,
    pet_id: Option<PetId>,
    interval_s: i32,
    species: Option<String>,
    hr_min: Option<i32>,
    hr_max: Option<i32>,
}

/// The collar's setup; `None` when the serial was never provisioned.
pub async fn load_setup(pg: &PgPool, serial: &str) -> Result<Option<CollarSetup>, sqlx::Error> {
    Ok(load_setups(pg, &[serial.to_owned()]).await?.remove(serial))
}

/// The setups of many collars in three queries, whatever their number (a restart in front of
/// thousands of collars starts them batch by batch); serials never provisioned are absent.
pub async fn load_setups(
    pg: &PgPool,
    serials: &[String],
) -> Result<HashMap<String, CollarSetup>, sqlx::Error> {
    metrics::counter!("pettysync_collar_lookup_queries_total").increment(1);
    let rows: Vec<SetupRow> = sqlx::query_as(
        "SELECT c.serial, c.pet_id, c.interval_s, p.species, p.hr_min, p.hr_max
         FROM collars c LEFT JOIN pets p ON p.id = c.pet_id WHERE c.serial = ANY($1)",
    )
    .bind(serials)
    .fetch_all(pg)
    .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let pets: Vec<PetId> = rows.iter().filter_map(|row| row.pet_id).collect();
    let fence_rows: Vec<PetFenceRow> = sqlx::query_as(
        "SELECT pet_id, id, kind, geometry FROM geofences WHERE pet_id = ANY($1)
         ORDER BY pet_id, created_at",
    )
    .bind(&pets)
    .fetch_all(pg)
    .await?;
    let mut fences: HashMap<PetId, Vec<FenceSetup>> = HashMap::new();
    for row in fence_rows {
        fences.entry(row.pet_id).or_default().push(FenceSetup {
            id: row.id,
            kind: row.kind,
            geometry: row.geometry,
        });
    }
    // Per collar, the recent spans and the last one before them: a collar that was ever on a
    // pet before its first recent pairing must not give that pairing's pet a backlog from
    // before it.
    let found: Vec<&str> = rows.iter().map(|row| row.serial.as_str()).collect();
    let spans: Vec<SerialSpanRow> = sqlx::query_as(
        "(SELECT DISTINCT ON (serial) serial, pet_id, paired_at, unpaired_at FROM collar_pairings
          WHERE serial = ANY($1) AND unpaired_at <= now() - make_interval(days => $2)
          ORDER BY serial, paired_at DESC)
         UNION ALL
         (SELECT serial, pet_id, paired_at, unpaired_at FROM collar_pairings
          WHERE serial = ANY($1)
            AND (unpaired_at IS NULL OR unpaired_at > now() - make_interval(days => $2)))
         ORDER BY serial, paired_at",
    )
    .bind(&found)
    .bind(PAIRING_HISTORY_DAYS)
    .fetch_all(pg)
    .await?;
    let mut pairings: HashMap<String, Vec<PairingSpan>> = HashMap::new();
    for (serial, pet_id, from, to) in spans {
        pairings.entry(serial).or_default().push(PairingSpan {
            pet_id,
            from_ms: from.timestamp_millis(),
            to_ms: to.map(|to| to.timestamp_millis()),
        });
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let setup = CollarSetup {
                fences: row
                    .pet_id
                    .and_then(|pet| fences.get(&pet).cloned())
                    .unwrap_or_default(),
                pairings: pairings.remove(&row.serial).unwrap_or_default(),
                serial: row.serial.clone(),
                pet_id: row.pet_id,
                interval_s: row.interval_s,
                species: row.species,
                hr_min: row.hr_min,
                hr_max: row.hr_max,
            };
            (row.serial, setup)
        })
        .collect())
}

/// The serial of the collar a pet wears, if any.
pub async fn serial_of_pet(pg: &PgPool, pet: PetId) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT serial FROM collars WHERE pet_id = $1")
        .bind(pet)
        .fetch_optional(pg)
        .await?;
    Ok(row.map(|(serial,)| serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_codes_are_two_groups_of_unambiguous_characters() {
        let code = new_pairing_code();
        assert_eq!(code.len(), CODE_LEN + 1);
        assert!(code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| CODE_ALPHABET.contains(&(c as u8))));
        assert_ne!(code, new_pairing_code());
    }

    #[test]
    fn typed_codes_ignore_case_and_dashes() {
        assert_eq!(normalize("abcde-fghjk"), "ABCDEFGHJK");
        assert_eq!(normalize(" ABCDE FGHJK "), "ABCDEFGHJK");
    }
}
