//! RFC 8291 message encryption for Web Push (`aes128gcm`, RFC 8188, one record), on aws-lc-rs.
//!
//! The P-256 arithmetic (an ephemeral key and an ECDH agreement per message) is most of the scheduler's work in
//! a burst of reminders, and aws-lc's assembly does it far faster than pure Rust. Each message still gets its own
//! ephemeral key pair and salt, as the RFC requires.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The record size written in the header: one record holds any Web Push message (at most 4,096 bytes).
const RECORD_SIZE: u32 = 4096;

/// The largest plaintext one record carries (RFC 8291 §4: 4,096 minus header, delimiter and tag).
pub const MAX_PLAINTEXT: usize = 3993;

/// Why a message could not be encrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("the payload is larger than {MAX_PLAINTEXT} bytes")]
    TooLarge,
    #[error("the subscription's p256dh is not a P-256 point")]
    BadKey,
    #[error("the cipher failed")]
    Crypto,
}

impl From<aws_lc_rs::error::Unspecified> for EceError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Crypto
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<[u8; N], EceError> {
    let mut out = [0u8; N];
    Salt::new(HKDF_SHA256, salt).extract(ikm).expand(&[info], Len(N))?.fill(&mut out)?;
    Ok(out)
}

/// Encrypts `plaintext` for the user agent's key `ua_public` (65-byte uncompressed point) and `auth` secret.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth: &[u8; 16]) -> Result<Vec<u8>, EceError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLarge);
    }
    if ua_public.len() != 65 || ua_public[0] != 0x04 {
        return Err(EceError::BadKey);
    }
    let rng = SystemRandom::new();
    let as_private = EphemeralPrivateKey::generate(&ECDH_P256, &rng)?;
    let as_public = as_private.compute_public_key()?;
    let peer = UnparsedPublicKey::new(&ECDH_P256, ua_public);
    let ikm = agree_ephemeral(as_private, peer, EceError::BadKey, |shared| {
        let mut info = Vec::with_capacity(14 + 65 + 65);
        info.extend_from_slice(b"WebPush: info\0");
        info.extend_from_slice(ua_public);
        info.extend_from_slice(as_public.as_ref());
        hkdf::<32>(auth, shared, &info)
    })?;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)?;
    let cek: [u8; 16] = hkdf(&salt, &ikm, b"Content-Encoding: aes128gcm\0")?;
    let nonce: [u8; 12] = hkdf(&salt, &ikm, b"Content-Encoding: nonce\0")?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    // The last (and only) record ends with the delimiter 0x02 and no further padding.
    record.push(0x02);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)?;
    let keyid = as_public.as_ref();
    let mut body = Vec::with_capacity(16 + 4 + 1 + keyid.len() + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(keyid.len() as u8);
    body.extend_from_slice(keyid);
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_carries_salt_record_size_and_a_fresh_ephemeral_key_per_message() {
        let ua = EphemeralPrivateKey::generate(&ECDH_P256, &SystemRandom::new()).unwrap();
        let ua_public = ua.compute_public_key().unwrap();
        let a = encrypt(b"hello", ua_public.as_ref(), &[7; 16]).unwrap();
        let b = encrypt(b"hello", ua_public.as_ref(), &[7; 16]).unwrap();
        assert_eq!(&a[16..20], &4096u32.to_be_bytes());
        assert_eq!(a[20], 65);
        assert_eq!(a.len(), 21 + 65 + 5 + 1 + 16);
        assert_ne!(a[..16], b[..16], "salt reused");
        assert_ne!(a[21..86], b[21..86], "ephemeral key reused");
    }

    #[test]
    fn oversized_payloads_and_bad_keys_are_refused() {
        assert_eq!(encrypt(&[0; MAX_PLAINTEXT + 1], &[4; 65], &[0; 16]), Err(EceError::TooLarge));
        assert_eq!(encrypt(b"x", &[4; 33], &[0; 16]), Err(EceError::BadKey));
    }
}
