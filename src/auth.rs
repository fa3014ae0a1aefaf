//! Credentials: Argon2id password hashes, JWT access tokens, and opaque random tokens
//! (refresh tokens, pairing codes) that are stored only as SHA-256 hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod hashing;
pub use hashing::{HashingError, PasswordHashing};

use crate::ids::UserId;

/// Lifetime of an access token, unless `PETTYSYNC_ACCESS_TOKEN_TTL_S` says otherwise.
pub const ACCESS_TOKEN_TTL_S: i64 = 15 * 60;
/// Lifetime of a refresh token (each refresh issues a new one).
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;
/// Random bytes in an opaque token: 256 bits, far beyond guessing.
const TOKEN_BYTES: usize = 32;

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_s: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
    /// The refresh-token family (the sign-in) the token was issued in; not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<Uuid>,
}

/// What a valid, unexpired access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    /// When the token stops being valid.
    pub expires_at: chrono::DateTime<Utc>,
    /// The sign-in (refresh-token family) it belongs to; `None` for a token issued outside one.
    pub family: Option<Uuid>,
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            ttl_s: ACCESS_TOKEN_TTL_S,
        }
    }

    /// The same keys, issuing tokens that live `ttl_s` seconds.
    pub fn with_ttl(self, ttl_s: u64) -> Self {
        Self {
            ttl_s: i64::try_from(ttl_s).unwrap_or(ACCESS_TOKEN_TTL_S),
            ..self
        }
    }

    /// Seconds an access token lives.
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    /// A fresh access token for the user, outside any sign-in.
    pub fn issue(&self, user_id: Uuid) -> anyhow::Result<String> {
        self.sign(user_id, None)
    }

    /// A fresh access token for the user's sign-in `family` (its refresh-token family).
    pub fn issue_in_family(&self, user_id: Uuid, family: Uuid) -> anyhow::Result<String> {
        self.sign(user_id, Some(family))
    }

    fn sign(&self, user_id: Uuid, family: Option<Uuid>) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            iat: now,
            exp: now + self.ttl_s,
            fam: family,
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The user a valid, unexpired token was issued to; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        self.claims(token).map(|claims| claims.user.0)
    }

    /// What a valid, unexpired token says; `None` for anything else.
    pub fn claims(&self, token: &str) -> Option<AccessClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        Some(AccessClaims {
            user: UserId(claims.sub),
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0)?,
            family: claims.fam,
        })
    }
}

/// Hashes a password with Argon2id and a random salt. CPU-heavy: call it off the async threads.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// True when the password matches the stored hash. CPU-heavy like [`hash_password`].
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a well-formed password, verified against when the user does not exist, so a
/// login for an unknown email takes as long as one with a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// A new random opaque token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of an opaque token. Tokens are random and long, so a fast hash suffices.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_until_tampered() {
        let keys = JwtKeys::new(&SecretString::from("x".repeat(32)));
        let user = Uuid::new_v4();
        let token = keys.issue(user).unwrap();
        assert_eq!(keys.verify(&token), Some(user));
        let other = JwtKeys::new(&SecretString::from("y".repeat(32)));
        assert_eq!(other.verify(&token), None);
        assert_eq!(keys.verify(&format!("{token}x")), None);
    }

    #[test]
    fn a_token_tells_its_expiry_and_sign_in() {
        let keys = JwtKeys::new(&SecretString::from("x".repeat(32))).with_ttl(60);
        let (user, family) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = keys
            .claims(&keys.issue_in_family(user, family).unwrap())
            .unwrap();
        assert_eq!(claims.user, UserId(user));
        assert_eq!(claims.family, Some(family));
        let left = claims.expires_at - Utc::now();
        assert!((58..=60).contains(&left.num_seconds()), "{left}");
        let outside = keys.claims(&keys.issue(user).unwrap()).unwrap();
        assert_eq!(outside.family, None);
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn random_tokens_differ_and_hash_stably() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert!(a.len() >= 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"different"));
    }
}
