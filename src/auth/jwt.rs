//! Tokens: HS256 JWTs whose `sub` is the user id and whose `ver` is the
//! user's credential version, so a password change revokes older tokens.
//! Each carries a random `jti`, so no two sign-ins share a token and one
//! session can be signed out alone (by its [`digest`]).
//!
//! The algorithm is pinned in validation (no `alg: none`, no RS/HS
//! confusion), `exp` is required, and keys are built once at start. A
//! previous secret may be kept for verification only, so the secret can be
//! rotated without logging everyone out.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::domain::views::UserRecord;
use crate::domain::UserId;
use crate::store::TokenDigest;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// User id, as a string (RFC 7519 makes `sub` a string).
    sub: String,
    iat: u64,
    exp: u64,
    /// Credential version at issue time.
    ver: i64,
    /// Random: makes each issued token unique. Absent from tokens issued
    /// before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    jti: String,
}

/// Who a verified token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    pub user: UserId,
    pub credential_version: i64,
    /// When the token expires, in Unix seconds.
    pub expires_at: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token is invalid")]
    Invalid,
}

pub struct Tokens {
    encoding: EncodingKey,
    /// The current key first, then the previous one if configured.
    decoding: Vec<DecodingKey>,
    validation: Validation,
    lifetime_secs: u64,
}

impl Tokens {
    pub fn new(secret: &[u8], previous: Option<&[u8]>, lifetime_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        let mut decoding = vec![DecodingKey::from_secret(secret)];
        decoding.extend(previous.map(DecodingKey::from_secret));
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding,
            validation,
            lifetime_secs,
        }
    }

    /// How long an issued token stays valid, in seconds.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Signs a token for `user`, valid for the configured lifetime.
    pub fn issue(&self, user: &UserRecord) -> Result<String, String> {
        self.issue_at(user, now_secs())
    }

    fn issue_at(&self, user: &UserRecord, iat: u64) -> Result<String, String> {
        let claims = Claims {
            sub: user.id.0.to_string(),
            iat,
            exp: iat + self.lifetime_secs,
            ver: user.credential_version,
            jti: format!("{:032x}", rand::random::<u128>()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Checks signature, algorithm and expiry. Revocation (the credential
    /// version) is checked by the caller against the stored user.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let mut last = TokenError::Invalid;
        for key in &self.decoding {
            match decode::<Claims>(token, key, &self.validation) {
                Ok(data) => {
                    let user = data.claims.sub.parse().map_err(|_| TokenError::Invalid)?;
                    return Ok(TokenClaims {
                        user: UserId(user),
                        credential_version: data.claims.ver,
                        expires_at: data.claims.exp,
                    });
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                    last = TokenError::Expired;
                    break;
                }
                Err(_) => break,
            }
        }
        Err(last)
    }
}

/// What a signed-out token is remembered by: the SHA-256 digest of its
/// text, so the database never holds a token that could be replayed.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210";

    fn user() -> UserRecord {
        UserRecord {
            id: UserId(42),
            username: "jake".into(),
            email: "jake@example.com".into(),
            bio: String::new(),
            image: String::new(),
            password_hash: String::new(),
            credential_version: 3,
        }
    }

    #[test]
    fn issued_tokens_verify_with_user_and_version() {
        let tokens = Tokens::new(SECRET, None, 3600);
        let token = tokens.issue(&user()).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!((claims.user, claims.credential_version), (UserId(42), 3));
        let lifetime = claims.expires_at.saturating_sub(now_secs());
        assert!((3590..=3600).contains(&lifetime), "{lifetime}");
    }

    #[test]
    fn two_sign_ins_in_the_same_second_get_different_tokens() {
        let tokens = Tokens::new(SECRET, None, 3600);
        let now = now_secs();
        let (a, b) = (
            tokens.issue_at(&user(), now).unwrap(),
            tokens.issue_at(&user(), now).unwrap(),
        );
        assert_ne!(a, b);
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_rejected() {
        let tokens = Tokens::new(SECRET, None, 3600);
        let old = tokens.issue_at(&user(), now_secs() - 7200).unwrap();
        assert_eq!(tokens.verify(&old), Err(TokenError::Expired));

        let token = tokens.issue(&user()).unwrap();
        let mut tampered = token.clone().into_bytes();
        let i = token.find('.').unwrap() + 3;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            tokens.verify(&String::from_utf8(tampered).unwrap()),
            Err(TokenError::Invalid)
        );

        let foreign = Tokens::new(OTHER, None, 3600).issue(&user()).unwrap();
        assert_eq!(tokens.verify(&foreign), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("not.a.token"), Err(TokenError::Invalid));
        assert_eq!(tokens.verify(""), Err(TokenError::Invalid));
    }

    #[test]
    fn unsigned_tokens_are_rejected() {
        // {"alg":"none"} with valid claims and no signature.
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let claims = "eyJzdWIiOiI0MiIsImlhdCI6MSwiZXhwIjo5OTk5OTk5OTk5LCJ2ZXIiOjN9";
        let tokens = Tokens::new(SECRET, None, 3600);
        assert_eq!(
            tokens.verify(&format!("{header}.{claims}.")),
            Err(TokenError::Invalid)
        );
    }

    /// The RSA code jsonwebtoken compiles in (RUSTSEC-2023-0071, see
    /// deny.toml) must stay unreachable: a token naming any algorithm but
    /// HS256 is refused by the algorithm check, before a key is consulted.
    #[test]
    fn tokens_signed_with_any_other_algorithm_are_refused() {
        let tokens = Tokens::new(SECRET, None, 3600);
        let valid = tokens.issue(&user()).unwrap();
        let (_, claims_and_signature) = valid.split_once('.').unwrap();
        // Base64url of {"alg":"<name>","typ":"JWT"}.
        let headers = [
            ("RS256", "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"),
            ("RS512", "eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9"),
            ("PS256", "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9"),
            ("ES256", "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"),
            ("EdDSA", "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"),
            ("HS512", "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9"),
        ];
        for (name, header) in headers {
            let token = format!("{header}.{claims_and_signature}");
            let error =
                decode::<Claims>(&token, &tokens.decoding[0], &tokens.validation).expect_err(name);
            assert_eq!(
                error.kind(),
                &ErrorKind::InvalidAlgorithm,
                "{name}: refused for the wrong reason"
            );
            assert_eq!(tokens.verify(&token), Err(TokenError::Invalid), "{name}");
        }
    }

    #[test]
    fn the_previous_secret_still_verifies_after_rotation() {
        let before = Tokens::new(OTHER, None, 3600).issue(&user()).unwrap();
        let rotated = Tokens::new(SECRET, Some(OTHER), 3600);
        assert!(rotated.verify(&before).is_ok());
        let fresh = rotated.issue(&user()).unwrap();
        assert!(
            Tokens::new(SECRET, None, 3600).verify(&fresh).is_ok(),
            "signed with the new key"
        );
    }
}
