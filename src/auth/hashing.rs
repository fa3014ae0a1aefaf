//! Password hashing for request handlers: Argon2id on blocking threads, at most a fixed
//! number at once, each in memory that is allocated once and reused.
//!
//! One hash with the default parameters fills 19 MiB. Without a cap, a burst of logins
//! holds 19 MiB per request at once. A cap alone is not enough either: the allocator keeps
//! freed 19 MiB blocks per thread arena (glibc raises its mmap threshold after the first
//! one), so RSS still grows by hundreds of MiB. Hashing into a pool of reused buffers, one
//! per permit, keeps the memory of hashing at exactly `permits × 19 MiB`.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use super::{dummy_password_hash, verify_password};

/// Memory blocks (1 KiB each) one hash with the default parameters uses.
const BLOCKS: usize = Params::DEFAULT_M_COST as usize;

/// Hashes and verifies passwords, at most `concurrency` at once; see the module doc.
#[derive(Clone)]
pub struct PasswordHashing {
    permits: Arc<Semaphore>,
    /// Hashing memory not in use; never more buffers than permits.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// The pool of hashing buffers. A poisoned pool still holds good buffers: Argon2 overwrites
/// them before reading.
fn lock(pool: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A hashing job that could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("the password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("hashing a password: {0}")]
    Argon2(argon2::password_hash::Error),
}

impl PasswordHashing {
    /// At most `concurrency` hashes at once (at least one).
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::default(),
        }
    }

    /// An Argon2id PHC string of `password` with a random salt and the default parameters.
    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        self.run(move |memory| {
            let salt = SaltString::generate(&mut OsRng);
            compute(
                &Argon2::default(),
                password.as_bytes(),
                salt.as_salt(),
                memory,
            )
            .map(|hash| hash.to_string())
            .map_err(HashingError::Argon2)
        })
        .await?
    }

    /// True when `password` matches `stored`. With no stored hash (no such user) it is
    /// checked against a dummy one, so a login for an unknown email takes as long as one
    /// with a wrong password.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashingError> {
        self.run(move |memory| {
            let stored = stored.as_deref().unwrap_or_else(|| dummy_password_hash());
            verify_in(memory, password.as_bytes(), stored)
        })
        .await
    }

    /// Runs `job` on a blocking thread with a permit and a hashing buffer. Both belong to
    /// the blocking task: a request dropped mid-hash (its client gone) leaves the hash
    /// running to its end with its permit held and its buffer returned, so the cap holds.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the hashing semaphore is never closed");
        let pool = self.memory.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let spare = lock(&pool).pop();
            let mut memory = spare.unwrap_or_else(|| vec![Block::default(); BLOCKS]);
            let outcome = job(&mut memory);
            lock(&pool).push(memory);
            outcome
        })
        .await?;
        Ok(outcome)
    }
}

/// What `argon2`'s `PasswordHasher::hash_password` does, in the given memory.
fn compute<'a>(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut [Block],
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let params = argon2.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut *memory)?)
    })?;
    Ok(PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Verifies against a stored Argon2id hash in `memory`. A hash made with other parameters
/// than ours (more memory than a buffer holds) is verified the ordinary way.
fn verify_in(memory: &mut [Block], password: &[u8], stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let ours = hash.algorithm == argon2::Algorithm::Argon2id.ident()
        && hash.version.is_none_or(|v| v == u32::from(Version::V0x13));
    let params = Params::try_from(&hash)
        .ok()
        .filter(|p| p.block_count() <= memory.len());
    let (Some(params), Some(salt), Some(expected), true) = (params, hash.salt, &hash.hash, ours)
    else {
        return verify_password(&String::from_utf8_lossy(password), stored);
    };
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params);
    // `Output`'s equality is constant-time.
    compute(&argon2, password, salt, memory).is_ok_and(|computed| computed.hash == Some(*expected))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::super::hash_password;
    use super::*;

    #[tokio::test]
    async fn a_pooled_hash_verifies_with_the_library_and_the_other_way_round() {
        let hashing = PasswordHashing::new(1);
        let pooled = hashing.hash("correct horse battery".into()).await.unwrap();
        assert!(
            pooled.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{pooled}"
        );
        assert!(verify_password("correct horse battery", &pooled));
        assert!(!verify_password("wrong horse battery", &pooled));

        let library = hash_password("correct horse battery").unwrap();
        let right = hashing.verify("correct horse battery".into(), Some(library.clone()));
        assert!(right.await.unwrap());
        let wrong = hashing.verify("wrong horse battery".into(), Some(library));
        assert!(!wrong.await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_or_a_broken_hash_never_verifies() {
        let hashing = PasswordHashing::new(1);
        let nobody = hashing.verify("correct horse battery".into(), None);
        assert!(!nobody.await.unwrap());
        let broken = hashing.verify("x".into(), Some("$argon2id$nonsense".into()));
        assert!(!broken.await.unwrap());
    }

    #[tokio::test]
    async fn no_more_hashes_run_than_the_cap_and_their_memory_is_reused() {
        let hashing = PasswordHashing::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (hashing, running, most) = (hashing.clone(), running.clone(), most.clone());
            async move {
                hashing
                    .run(move |memory| {
                        most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                        let hash = compute(
                            &Argon2::default(),
                            b"pw",
                            Salt::from_b64("c2FsdHNhbHQ").unwrap(),
                            memory,
                        );
                        running.fetch_sub(1, SeqCst);
                        hash.is_ok()
                    })
                    .await
            }
        });
        for hashed in futures_util::future::join_all(jobs).await {
            assert!(hashed.unwrap());
        }
        assert!(
            (1..=2).contains(&most.load(SeqCst)),
            "{most:?} hashes ran at once"
        );
        assert!(
            lock(&hashing.memory).len() <= 2,
            "one buffer per permit at most"
        );
    }

    /// A login whose client goes away mid-hash: the hash runs on, so its permit and buffer
    /// must stay taken until it ends, or dropped requests would run hashes past the cap.
    #[tokio::test]
    async fn a_hash_whose_request_is_dropped_holds_its_permit_until_it_ends() {
        let hashing = PasswordHashing::new(1);
        let hash = hashing.hash("pw".to_owned());
        let dropped = tokio::time::timeout(std::time::Duration::from_millis(1), hash).await;
        assert!(dropped.is_err(), "a hash takes longer than a millisecond");
        assert_eq!(hashing.permits.available_permits(), 0, "still hashing");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while hashing.permits.available_permits() == 0 {
            assert!(std::time::Instant::now() < deadline, "the hash ends");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            lock(&hashing.memory).len(),
            1,
            "its buffer is back in the pool"
        );
    }
}
