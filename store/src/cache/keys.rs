//! Signing keys, named like Nix's: `NAME:BASE64`.
//!
//! * a secret key file holds `NAME:` and the base64 of the 32-byte ed25519 seed
//!   followed by the 32-byte public key (64 bytes, as Nix writes them);
//! * a public key is `NAME:` and the base64 of the 32-byte public key.
//!
//! The name says who signed (`ci.example.org-1`); a signature carries the name, and
//! is checked only against the trusted public key of that name.

use std::collections::BTreeMap;

use data_encoding::BASE64;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use crate::entry::Signature;

/// Why a key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not `NAME:BASE64`.
    #[error("{what} is not NAME:BASE64")]
    NotNamed { what: &'static str },
    /// A name that is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid key name {name:?}: use 1 to 128 of A-Z a-z 0-9 . _ -")]
    BadName { name: String },
    /// The base64 part does not decode to a key of the right length.
    #[error("{what} {name:?}: {reason}")]
    BadKey { what: &'static str, name: String, reason: String },
    /// The secret key's public half does not match its seed.
    #[error("secret key {name:?}: its public half does not belong to its seed")]
    Mismatch { name: String },
    /// The system's random source failed.
    #[error("reading random bytes: {0}")]
    Random(String),
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(KeyError::BadName { name: name.to_owned() }) }
}

fn split<'a>(text: &'a str, what: &'static str) -> Result<(&'a str, Vec<u8>), KeyError> {
    let (name, b64) = text.trim().split_once(':').ok_or(KeyError::NotNamed { what })?;
    check_name(name)?;
    let bytes = BASE64.decode(b64.as_bytes()).map_err(|e| KeyError::BadKey {
        what,
        name: name.to_owned(),
        reason: format!("bad base64: {e}"),
    })?;
    Ok((name, bytes))
}

/// A secret signing key with its name.
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.name)
    }
}

impl SecretKey {
    /// A new key from the system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// Reads `NAME:BASE64(seed ‖ public)`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, bytes) = split(text, "secret key")?;
        let bad = |reason: &str| KeyError::BadKey { what: "secret key", name: name.to_owned(), reason: reason.into() };
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| bad("not 64 bytes (seed and public key)"))?;
        let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| KeyError::Mismatch { name: name.to_owned() })?;
        Ok(Self { name: name.to_owned(), key })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of the secret key file (without a newline).
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, BASE64.encode(&self.key.to_keypair_bytes()))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs `bytes`.
    pub fn sign(&self, bytes: &[u8]) -> Signature {
        Signature { key_name: self.name.clone(), signature: self.key.sign(bytes).to_bytes().to_vec() }
    }
}

/// A public key with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Reads `NAME:BASE64(public)`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, bytes) = split(text, "public key")?;
        let bad = |reason: &str| KeyError::BadKey { what: "public key", name: name.to_owned(), reason: reason.into() };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a point of the curve"))?;
        Ok(Self { name: name.to_owned(), key })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `NAME:BASE64`.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

/// The public keys whose signatures are trusted (`RSTORE_TRUSTED_KEYS`).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    /// Reads a whitespace-separated list of `NAME:BASE64` public keys.
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for word in list.split_whitespace() {
            let k = PublicKey::parse(word)?;
            keys.insert(k.name, k.key);
        }
        Ok(Self { keys })
    }

    /// Trusts `key` too.
    pub fn add(&mut self, key: PublicKey) {
        self.keys.insert(key.name, key.key);
    }

    /// No key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of a trusted key whose signature over `bytes` is among `signatures`.
    pub fn verify<'a>(&self, bytes: &[u8], signatures: &'a [Signature]) -> Option<&'a str> {
        signatures.iter().find_map(|s| {
            let key = self.keys.get(&s.key_name)?;
            let sig = ed25519_dalek::Signature::from_slice(&s.signature).ok()?;
            key.verify(bytes, &sig).ok().map(|_| s.key_name.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_verify() {
        let secret = SecretKey::generate("ci-1").unwrap();
        let again = SecretKey::parse(&secret.to_text()).unwrap();
        assert_eq!(again.public(), secret.public());
        let public = PublicKey::parse(&secret.public().to_text()).unwrap();
        let mut trusted = TrustedKeys::default();
        trusted.add(public);
        let sig = secret.sign(b"hello");
        assert_eq!(trusted.verify(b"hello", std::slice::from_ref(&sig)), Some("ci-1"));
        assert_eq!(trusted.verify(b"hellO", std::slice::from_ref(&sig)), None);
        // The same key under another name is not trusted.
        let renamed = Signature { key_name: "other".into(), signature: sig.signature.clone() };
        assert_eq!(trusted.verify(b"hello", &[renamed]), None);
        // Another key's signature under a trusted name fails.
        let forged = SecretKey::generate("ci-1").unwrap().sign(b"hello");
        assert_eq!(trusted.verify(b"hello", &[forged]), None);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(PublicKey::parse("nocolon"), Err(KeyError::NotNamed { .. })));
        assert!(matches!(PublicKey::parse("a b:AAAA"), Err(KeyError::BadName { .. })));
        assert!(matches!(PublicKey::parse("k:!!"), Err(KeyError::BadKey { .. })));
        assert!(matches!(PublicKey::parse("k:AAAA"), Err(KeyError::BadKey { .. })));
        let secret = SecretKey::generate("k").unwrap();
        let other = SecretKey::generate("k").unwrap();
        let mut mixed = secret.key.to_keypair_bytes();
        mixed[32..].copy_from_slice(other.key.verifying_key().as_bytes());
        assert!(matches!(SecretKey::parse(&format!("k:{}", BASE64.encode(&mixed))), Err(KeyError::Mismatch { .. })));
        assert!(TrustedKeys::parse("").unwrap().is_empty());
    }
}
