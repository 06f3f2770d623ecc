//! Password policy and argon2id hashing.
//!
//! Policy (OWASP ASVS 2.1): 12–128 characters, no composition rules, and no password
//! that zxcvbn rates as guessable (score below 3) — its frequency lists hold the common
//! passwords. Hashes use the argon2 crate's defaults, argon2id m=19456 KiB, t=2, p=1
//! (OWASP's minimum). Hashing and verifying are slow on purpose and take 19 MiB each:
//! request handlers run them through [`run_gated`], which lets only a few run at once.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::ApiError;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// Argon2 computations allowed at once: one per core. Each holds 19 MiB for its
/// duration, so a burst of logins (1,000 at once, say) queues here instead of taking
/// memory and every core without bound.
static HASHING: LazyLock<std::sync::Arc<tokio::sync::Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::sync::Arc::new(tokio::sync::Semaphore::new(cores))
});

/// How long a request may wait for its turn before it is answered 503 with Retry-After.
const HASHING_WAIT: Duration = Duration::from_secs(5);

/// Runs `work` (hashing or verifying passwords) on the blocking pool once one of the
/// few hashing slots is free; 503 when none frees up within [`HASHING_WAIT`].
pub async fn run_gated<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let busy = || ApiError::unavailable("too many password checks at once");
    let permit = tokio::time::timeout(
        HASHING_WAIT,
        std::sync::Arc::clone(&HASHING).acquire_owned(),
    )
    .await
    .map_err(|_| busy())?
    .map_err(|_| busy())?;
    // The permit travels with the work: a client that hangs up drops its request, not
    // the computation already running, so the slot stays taken until the work is done.
    crate::blocking::run(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
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

fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a new password, with a fresh salt.
pub fn hash(password: &NewPassword) -> Result<String, ApiError> {
    hasher()
        .hash_password(password.0.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing a password failed: {e}")))
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
    hasher()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// Computes the dummy hash at startup: if hashing does not work, the service must not
/// start (an empty dummy would make unknown users fail faster than wrong passwords).
pub fn warm_up() -> anyhow::Result<()> {
    anyhow::ensure!(
        LazyLock::force(&DUMMY_HASH).starts_with("$argon2id$"),
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
}
