//! The token format `pitot_<id>_<secret>`: generating, parsing and hashing.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The fixed start of every token, so that leaked tokens are recognisable.
pub const TOKEN_PREFIX: &str = "pitot_";

/// Random bytes in a token's public id (hex-encoded to twice as many characters).
pub const TOKEN_ID_BYTES: usize = 8;

/// Random bytes in a token's secret (hex-encoded to twice as many characters): 256 bits.
pub const TOKEN_SECRET_BYTES: usize = 32;

/// The SHA-256 digest of a secret, the only form in which secrets are stored.
pub(crate) type SecretHash = [u8; 32];

/// A token just generated: its id, its full text and the hash to store.
pub(crate) struct GeneratedToken {
    pub id: String,
    pub token: String,
    pub hash: SecretHash,
}

/// Generates a fresh id and secret from the thread-local CSPRNG (seeded by the OS).
pub(crate) fn generate() -> GeneratedToken {
    let mut rng = rand::rng();
    let mut id_bytes = [0u8; TOKEN_ID_BYTES];
    rng.fill_bytes(&mut id_bytes);
    let mut secret_bytes = [0u8; TOKEN_SECRET_BYTES];
    rng.fill_bytes(&mut secret_bytes);

    let id = hex::encode(id_bytes);
    let secret = hex::encode(secret_bytes);
    let hash = hash_secret(&secret);
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    GeneratedToken { id, token, hash }
}

/// Splits a token into its id and secret, or `None` if it is not exactly
/// `pitot_` + 16 lowercase hex + `_` + 64 lowercase hex.
pub(crate) fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if !is_lower_hex(id, TOKEN_ID_BYTES * 2) || !is_lower_hex(secret, TOKEN_SECRET_BYTES * 2) {
        return None;
    }
    Some((id, secret))
}

/// Hashes the secret part of a token (its hex text).
pub(crate) fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares two hashes in constant time: every byte is looked at whatever differs first.
pub(crate) fn hashes_match(stored: &SecretHash, presented: &SecretHash) -> bool {
    stored.ct_eq(presented).into()
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random secret of 256 bits, hex-encoded, prefixed `pitot_platform_` so it is
/// recognisable; used for the operator's platform token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; TOKEN_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}platform_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_hash_to_the_stored_hash() {
        let generated = generate();
        let (id, secret) = parse(&generated.token).expect("a generated token parses");
        assert_eq!(id, generated.id);
        assert_eq!(secret.len(), TOKEN_SECRET_BYTES * 2);
        assert!(hashes_match(&generated.hash, &hash_secret(secret)));
        assert!(!hashes_match(
            &generated.hash,
            &hash_secret(&"0".repeat(64))
        ));
    }

    #[test]
    fn secrets_carry_at_least_128_random_bits() {
        let a = generate();
        let b = generate();
        assert_ne!(a.id, b.id);
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
        let (_, secret_a) = parse(&a.token).unwrap();
        let (_, secret_b) = parse(&b.token).unwrap();
        assert_ne!(secret_a, secret_b);
        // Hex carries 4 bits per character.
        assert!(secret_a.len() * 4 >= 128);
        assert_eq!(secret_a.len() * 4, 256);
        // A zeroed or constant secret would mean the RNG was not used.
        assert!(
            secret_a
                .bytes()
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 4
        );
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = generate().token;
        let id = "0123456789abcdef";
        let secret = "a".repeat(64);
        assert!(parse(&format!("pitot_{id}_{secret}")).is_some());
        for bad in [
            String::new(),
            "pitot_".to_string(),
            "pitot__".to_string(),
            good[..good.len() - 1].to_string(),
            format!("{good}0"),
            format!("Pitot_{id}_{secret}"),
            format!("pitot_{id}{secret}"),
            format!("pitot_{}_{secret}", id.to_uppercase()),
            format!("pitot_{id}_{}", secret.to_uppercase()),
            format!("pitot_{id}_{}", "g".repeat(64)),
            format!("pitot_{id}_{}é", "a".repeat(62)),
            format!("pitot_{id}_x_{}", "a".repeat(62)),
            "Bearer something".to_string(),
        ] {
            assert!(parse(&bad).is_none(), "{bad:?} should not parse");
        }
    }
}
