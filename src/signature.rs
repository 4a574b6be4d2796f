//! QingCloud's API signature, version 1 (the `signature` feature): what a
//! server checks before it answers a request.
//!
//! A client signs `VERB\nPATH\n` followed by every parameter but
//! `signature`, sorted by name and joined as `name=value&…`, each name and
//! value percent-encoded (every byte but `A–Z a–z 0–9 - _ . ~`), with
//! HMAC-SHA256 (`signature_method=HmacSHA256`) or HMAC-SHA1
//! (`HmacSHA1`) under its secret access key, and sends the base64 of the
//! MAC as `signature`. This is the algorithm of the official SDKs
//! (`qingcloud.conn.auth.QuerySignatureAuthHandler`); the tests check it
//! against signatures that SDK made.
//!
//! The functions are pure: the caller finds the secret of the request's
//! `access_key_id` and reads the clock ([`check_time`] takes `now`).
//!
//! ```
//! use joblog::signature::{self, Method};
//!
//! let params = [("action", "DescribeClusterJobs"), ("app", "app-1"),
//!     ("access_key_id", "QYKEY"), ("signature_method", "HmacSHA256"),
//!     ("signature_version", "1"), ("time_stamp", "2018-03-04T05:37:58Z")];
//! let sig = signature::sign(Method::HmacSha256, "secret", "GET", "/iaas/", &params);
//! let mut signed = params.to_vec();
//! signed.push(("signature", &sig));
//! assert_eq!(signature::verify("secret", "GET", "/iaas/", &signed), Ok(()));
//! assert!(signature::verify("wrong", "GET", "/iaas/", &signed).is_err());
//! ```

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};

use crate::time::parse_timestamp;

/// The MAC a request is signed with (`signature_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `HmacSHA256`, what the SDKs use.
    HmacSha256,
    /// `HmacSHA1`.
    HmacSha1,
}

impl Method {
    /// The wire name: `HmacSHA256` or `HmacSHA1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::HmacSha256 => "HmacSHA256",
            Method::HmacSha1 => "HmacSHA1",
        }
    }

    fn named(name: &str) -> Option<Method> {
        [Method::HmacSha256, Method::HmacSha1]
            .into_iter()
            .find(|method| method.as_str() == name)
    }
}

/// Why a request is not authenticated: 1200 (`AuthenticationFailed`) for a
/// signature, 1300 (`MessageExpired`) for a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// A parameter the check needs is not in the request, or is given
    /// twice.
    Missing(&'static str),
    /// `signature_method` names no method this crate knows.
    UnknownMethod(String),
    /// `signature_version` is not `1`.
    UnknownVersion(String),
    /// The signature does not match the request under this secret.
    Mismatch,
    /// `time_stamp` or `expires` is not an RFC 3339 time.
    BadTime(&'static str),
    /// The request is too old (`time_stamp` further from now than
    /// allowed) or past its `expires`.
    Expired(&'static str),
}

impl SignatureError {
    /// The API's code: 1300 for an expired request, else 1200.
    pub fn ret_code(&self) -> i32 {
        match self {
            SignatureError::Expired(_) => 1300,
            _ => 1200,
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::Missing(param) => {
                write!(
                    f,
                    "AuthenticationFailed, the request needs exactly one [{param}]"
                )
            }
            SignatureError::UnknownMethod(name) => write!(
                f,
                "AuthenticationFailed, signature_method [{name}] is not HmacSHA256 or HmacSHA1"
            ),
            SignatureError::UnknownVersion(version) => {
                write!(
                    f,
                    "AuthenticationFailed, signature_version [{version}] is not 1"
                )
            }
            SignatureError::Mismatch => {
                f.write_str("AuthenticationFailed, the signature does not match the request")
            }
            SignatureError::BadTime(param) => {
                write!(f, "AuthenticationFailed, [{param}] is not an RFC 3339 time")
            }
            SignatureError::Expired(param) => {
                write!(
                    f,
                    "MessageExpired, the request has expired by its [{param}]"
                )
            }
        }
    }
}

impl std::error::Error for SignatureError {}

/// The text a request signs: `VERB\nPATH\n`, then every parameter but
/// `signature`, sorted by name, percent-encoded and joined by `&`.
pub fn string_to_sign(verb: &str, path: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(name, _)| *name != "signature")
        .collect();
    // Byte order of UTF-8 is code point order, as the SDKs sort.
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = format!("{verb}\n{path}\n");
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            text.push('&');
        }
        encode(&mut text, name);
        text.push('=');
        encode(&mut text, value);
    }
    text
}

/// Percent-encodes every byte but the unreserved ones.
fn encode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The signature of a request: the base64 of its MAC under `secret`.
/// `params` should hold `signature_method` naming `method`, as the SDKs
/// send it.
pub fn sign(
    method: Method,
    secret: &str,
    verb: &str,
    path: &str,
    params: &[(&str, &str)],
) -> String {
    let text = string_to_sign(verb, path, params);
    STANDARD.encode(Keyed::new(method, secret, &text).into_bytes())
}

/// A MAC over a request's text, under one of the two methods.
enum Keyed {
    Sha256(Hmac<sha2::Sha256>),
    Sha1(Hmac<sha1::Sha1>),
}

impl Keyed {
    fn new(method: Method, secret: &str, text: &str) -> Keyed {
        // HMAC takes a key of any length: `new_from_slice` cannot fail, and
        // `KeyInit::new` on the padded block would be the same MAC.
        let key = secret.as_bytes();
        let mut keyed = match method {
            Method::HmacSha256 => Keyed::Sha256(
                <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key")),
            ),
            Method::HmacSha1 => Keyed::Sha1(
                <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key")),
            ),
        };
        match &mut keyed {
            Keyed::Sha256(mac) => mac.update(text.as_bytes()),
            Keyed::Sha1(mac) => mac.update(text.as_bytes()),
        }
        keyed
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Keyed::Sha256(mac) => mac.finalize().into_bytes().to_vec(),
            Keyed::Sha1(mac) => mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Whether `given` is this MAC, compared in constant time.
    fn matches(self, given: &[u8]) -> bool {
        match self {
            Keyed::Sha256(mac) => mac.verify_slice(given).is_ok(),
            Keyed::Sha1(mac) => mac.verify_slice(given).is_ok(),
        }
    }
}

/// The one value of a parameter.
fn one<'a>(params: &[(&str, &'a str)], name: &'static str) -> Result<&'a str, SignatureError> {
    let mut values = params.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(SignatureError::Missing(name)),
    }
}

/// Checks a request's signature under `secret` (the secret of its
/// `access_key_id`): `signature_version` 1, a known `signature_method`,
/// and a `signature` equal to the request's MAC, compared in constant
/// time. Parameters are the request's decoded `name=value` pairs.
///
/// # Errors
///
/// [`SignatureError`]: a missing or repeated `signature`,
/// `signature_method` or `signature_version`, an unknown method or
/// version, or a signature that does not match.
pub fn verify(
    secret: &str,
    verb: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Result<(), SignatureError> {
    let given = one(params, "signature")?;
    let version = one(params, "signature_version")?;
    if version != "1" {
        return Err(SignatureError::UnknownVersion(version.to_owned()));
    }
    let name = one(params, "signature_method")?;
    let method =
        Method::named(name).ok_or_else(|| SignatureError::UnknownMethod(name.to_owned()))?;
    let Ok(given) = STANDARD.decode(given) else {
        return Err(SignatureError::Mismatch);
    };
    let text = string_to_sign(verb, path, params);
    if Keyed::new(method, secret, &text).matches(&given) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks a request's times against `now`: its `time_stamp` (required)
/// no further than `allowed` from now, either way, and its `expires`, if
/// given, not past.
///
/// # Errors
///
/// [`SignatureError::Missing`] without one `time_stamp`,
/// [`SignatureError::BadTime`] for a time that does not parse, and
/// [`SignatureError::Expired`] (1300) naming the parameter.
pub fn check_time(
    params: &[(&str, &str)],
    now: DateTime<Utc>,
    allowed: chrono::Duration,
) -> Result<(), SignatureError> {
    let stamp = one(params, "time_stamp")?;
    let stamp = parse_timestamp(stamp).map_err(|_| SignatureError::BadTime("time_stamp"))?;
    if (now - stamp).abs() > allowed {
        return Err(SignatureError::Expired("time_stamp"));
    }
    if params.iter().any(|(name, _)| *name == "expires") {
        let expires = one(params, "expires")?;
        let expires = parse_timestamp(expires).map_err(|_| SignatureError::BadTime("expires"))?;
        if now >= expires {
            return Err(SignatureError::Expired("expires"));
        }
    }
    Ok(())
}
