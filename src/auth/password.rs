//! Password policy and argon2id hashing.
//!
//! Policy (OWASP ASVS 2.1): 12–128 characters, no composition rules, and no password
//! that zxcvbn rates as guessable (score below 3) — its frequency lists hold the common
//! passwords. Hashes use the argon2 crate's defaults, argon2id m=19456 KiB, t=2, p=1
//! (OWASP's minimum). Hashing and verifying are slow on purpose and take 19 MiB each:
//! request handlers run them through [`run_gated`], on one thread per core.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::ApiError;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// The threads that run argon2, one per core. Each computation needs a 19 MiB buffer:
/// with a fixed set of threads at most that many exist, and each thread's allocator
/// keeps its buffer for the next computation instead of asking the system again. A burst
/// of logins (1,000 at once, say) waits in a short queue instead of taking memory and
/// every core without bound.
struct HashingPool {
    queue: std::sync::mpsc::SyncSender<Box<dyn FnOnce() + Send>>,
}

static POOL: LazyLock<HashingPool> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (queue, jobs) = std::sync::mpsc::sync_channel::<Box<dyn FnOnce() + Send>>(cores * 32);
    let jobs = std::sync::Arc::new(std::sync::Mutex::new(jobs));
    for n in 0..cores {
        let jobs = std::sync::Arc::clone(&jobs);
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start a password hashing thread");
        }
    }
    HashingPool { queue }
});

/// How long a request may wait for its turn before it is answered 503 with Retry-After.
const HASHING_WAIT: Duration = Duration::from_secs(5);

/// Runs `work` (hashing or verifying passwords) on the hashing threads; 503 with
/// `Retry-After` when their queue is full or the turn does not come within
/// [`HASHING_WAIT`] (the work is then skipped, not run for nobody).
pub async fn run_gated<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let busy = || ApiError::unavailable("too many password checks at once");
    let (answer, result) = tokio::sync::oneshot::channel();
    let span = tracing::Span::current();
    let queued = std::time::Instant::now();
    let job = Box::new(move || {
        // Too late, or the client hung up: nobody would read the answer.
        if queued.elapsed() >= HASHING_WAIT || answer.is_closed() {
            return;
        }
        let _ = answer.send(span.in_scope(work));
    });
    POOL.queue.try_send(job).map_err(|_| busy())?;
    tokio::time::timeout(HASHING_WAIT, result)
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?
}

/// A password that passed the policy; the only thing [`hash`] accepts.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

impl NewPassword {
    /// Checks the policy. `context` holds words the password must not lean on (the
    /// username, the service's name).
    pub fn parse(raw: &str, context: &[&str]) -> Result<Self, String> {
        // Cap by bytes first, so that a huge input costs nothing to refuse.
        if raw.len() > MAX_CHARS * 4 || raw.chars().count() > MAX_CHARS {
            return Err(format!("a password has at most {MAX_CHARS} characters"));
        }
        if raw.chars().count() < MIN_CHARS {
            return Err(format!(
                "a password has at least {MIN_CHARS} characters; a few unrelated words make a good one"
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err("a password cannot contain control characters".into());
        }
        let mut words = vec!["lagesbild", "lägesbild", "umea", "umeå"];
        // `anna.berg` → also `anna` and `berg`, so that each part counts as guessable.
        words.extend(
            context
                .iter()
                .flat_map(|w| std::iter::once(*w).chain(w.split(['.', '_', '@', '-']))),
        );
        let estimate = zxcvbn::zxcvbn(raw, &words);
        if estimate.score() < zxcvbn::Score::Three {
            let why = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "it is too easy to guess".into());
            return Err(format!(
                "this password is too easy to guess: {why}. Try a few unrelated words"
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a new password, with a fresh salt.
pub fn hash(password: &NewPassword) -> Result<String, ApiError> {
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::internal(anyhow::anyhow!("hashing a password failed: {e}"))
    };
    let params = Params::default();
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(params.block_count(), |memory| {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password.0.as_bytes(), &salt, &mut output, memory)
    })
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// A hash of a random string: unknown users are verified against it, so that a wrong
/// username takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut bytes = [0u8; 32];
    let _ = getrandom::fill(&mut bytes);
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hash(&NewPassword(text)).unwrap_or_default()
});

/// Whether `candidate` matches `stored`; `None` (no such user, or no password) is checked
/// against a dummy hash and always fails, in the same time.
pub fn verify(candidate: &str, stored: Option<&str>) -> bool {
    if candidate.len() > MAX_CHARS * 4 {
        return false;
    }
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    matches(candidate.as_bytes(), &parsed) && real
}

thread_local! {
    /// This thread's argon2 memory, reused by every check on it: the hashing threads
    /// allocate their 19 MiB once, and a login costs no allocation and no page faults.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's argon2 memory, grown to `blocks` if need be.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

/// Recomputes `parsed` (its algorithm, version, parameters and salt) for `candidate` in
/// this thread's memory and compares the outputs in constant time.
fn matches(candidate: &[u8], parsed: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = [0u8; 64];
    let Some(output) = output.get_mut(..expected.len()) else {
        return false;
    };
    let computed = with_memory(blocks, |memory| {
        argon2.hash_password_into_with_memory(candidate, salt.as_ref(), output, memory)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(output).is_ok_and(|output| &output == expected)
}

/// Computes the dummy hash at startup: if hashing does not work, the service must not
/// start (an empty dummy would make unknown users fail faster than wrong passwords).
/// It is computed on a hashing thread, where the argon2 memory lives anyway.
pub fn warm_up() -> anyhow::Result<()> {
    let (done, works) = std::sync::mpsc::channel();
    POOL.queue
        .send(Box::new(move || {
            let _ = done.send(LazyLock::force(&DUMMY_HASH).starts_with("$argon2id$"));
        }))
        .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
    anyhow::ensure!(
        works.recv().unwrap_or(false),
        "argon2 hashing does not work"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn only_one_password_check_per_core_runs_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let checks = (0..12).map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            run_gated(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        for result in futures_util::future::join_all(checks).await {
            result.unwrap();
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert!(
            most.load(Ordering::SeqCst) <= cores,
            "{} at once",
            most.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn short_long_common_and_contextual_passwords_are_refused_with_a_reason() {
        assert!(
            NewPassword::parse("kort", &[])
                .unwrap_err()
                .contains("at least 12")
        );
        assert!(
            NewPassword::parse(&"x".repeat(129), &[])
                .unwrap_err()
                .contains("at most 128")
        );
        assert!(NewPassword::parse(&"x".repeat(1_000_000), &[]).is_err());
        assert!(
            NewPassword::parse("password1234", &[])
                .unwrap_err()
                .contains("too easy to guess")
        );
        assert!(NewPassword::parse("qwertyuiop123", &[]).is_err());
        assert!(NewPassword::parse("annabergannaberg", &["anna.berg"]).is_err());
        assert!(NewPassword::parse("tab\there and more words", &[]).is_err());
    }

    #[test]
    fn a_few_unrelated_words_pass() {
        assert!(NewPassword::parse("correct horse battery staple", &[]).is_ok());
        assert!(NewPassword::parse("Lingonsylt på fredagsmys", &[]).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let password = NewPassword::parse("correct horse battery staple", &[]).unwrap();
        let stored = hash(&password).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery staple", Some(&stored)));
        assert!(!verify("correct horse battery stapler", Some(&stored)));
        assert!(!verify("correct horse battery staple", None));
        assert_ne!(
            stored,
            hash(&password).unwrap(),
            "every hash has its own salt"
        );
    }

    #[test]
    fn hashes_made_by_the_reference_implementation_verify() {
        // Made by libargon2 (argon2-cffi), with our parameters and with others: the
        // parameters come from each stored hash, and the memory is reused between them.
        for stored in [
            "$argon2id$v=19$m=19456,t=2,p=1$m5y50wwbivgCJu0TwyY1Xw$QGJQbqL3Hudm4Wbb3ocNnCRpeTgryEBwbRcstYvEBRc",
            "$argon2id$v=19$m=8192,t=1,p=2$kPMOA1jaOtXldP1zsj2wqA$eq1dmK5tq0EUTMx1wCfgvYPlPUJh0mayOm0jwxEnvHc",
        ] {
            assert!(verify("lingonsylt på fredagsmys", Some(stored)), "{stored}");
            assert!(
                !verify("lingonsylt på fredagsmyz", Some(stored)),
                "{stored}"
            );
        }
    }
}
