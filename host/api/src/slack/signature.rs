//! Slack's request signatures: `X-Slack-Signature: v0=<hex>` is the
//! HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` keyed with the
//! app's signing secret. A request older (or newer) than five minutes is
//! refused as a replay, and so is a signature already seen within them.
//! The comparison runs in constant time (`ring::hmac::verify`).

use std::collections::HashMap;
use std::sync::Mutex;

use ring::hmac;

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_AGE_SECONDS: i64 = 300;

/// Why a request's signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Slack-Request-Timestamp header: not a request signed by Slack")]
    MissingTimestamp,
    #[error("no X-Slack-Signature header: not a request signed by Slack")]
    MissingSignature,
    #[error("X-Slack-Request-Timestamp {0:?} is not a Unix time in seconds")]
    BadTimestamp(String),
    #[error(
        "the request was signed {age} s from now (more than {MAX_AGE_SECONDS} s): refused as a replay; check the clocks if Slack's clicks keep failing"
    )]
    TooOld { age: i64 },
    #[error("X-Slack-Signature is not `v0=` followed by 64 hex digits")]
    Malformed,
    #[error(
        "X-Slack-Signature does not match the body: a wrong signing secret (slack.signing_secret_file) or a changed body"
    )]
    Mismatch,
    #[error("this signed request was already received: refused as a replay")]
    Replayed,
}

/// `v0=<hex>` for `body` sent at `timestamp`: what Slack sends.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &base_string(timestamp, body));
    format!("v0={}", hex::encode(tag.as_ref()))
}

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + timestamp.len() + 4);
    m.extend_from_slice(b"v0:");
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b':');
    m.extend_from_slice(body);
    m
}

/// Checks a request's headers against its raw body at Unix time `now`.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    let age = now.saturating_sub(sent);
    if age.abs() > MAX_AGE_SECONDS {
        return Err(SignatureError::TooOld { age });
    }
    let tag = signature
        .strip_prefix("v0=")
        .filter(|h| h.len() == 64)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    // Constant time: ring compares the tags without an early exit.
    hmac::verify(&key, &base_string(timestamp, body), &tag).map_err(|_| SignatureError::Mismatch)
}

/// The signatures accepted in the last [`MAX_AGE_SECONDS`]: the same signed
/// request twice is a replay (a second click is a new request, signed anew).
#[derive(Default)]
pub struct Seen(Mutex<HashMap<String, i64>>);

impl Seen {
    /// Records `signature` received at `now`; `Err(Replayed)` if it was
    /// already there.
    pub fn admit(&self, signature: &str, now: i64) -> Result<(), SignatureError> {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, at| now - *at <= 2 * MAX_AGE_SECONDS);
        if seen.contains_key(signature) {
            return Err(SignatureError::Replayed);
        }
        seen.insert(signature.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

    #[test]
    fn slacks_documented_example_verifies() {
        // The example of Slack's "Verifying requests from Slack" guide.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, "1531420618", body), sig);
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(sig), body, 1531420618 + 10),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_a_changed_body_or_a_malformed_header_is_refused() {
        let now = 1_700_000_000;
        let ts = now.to_string();
        let sig = sign(SECRET, &ts, b"payload=1");
        let v =
            |secret: &[u8], sig: &str, body: &[u8]| verify(secret, Some(&ts), Some(sig), body, now);
        assert_eq!(v(SECRET, &sig, b"payload=1"), Ok(()));
        assert_eq!(
            v(b"another secret", &sig, b"payload=1"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(v(SECRET, &sig, b"payload=2"), Err(SignatureError::Mismatch));
        // One flipped hex digit.
        let mut flipped = sig.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            v(SECRET, &flipped, b"payload=1"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(SECRET, &sig[3..], b"payload=1"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v(SECRET, "v0=zz", b"payload=1"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, None, Some(&sig), b"payload=1", now),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some(&ts), None, b"payload=1", now),
            Err(SignatureError::MissingSignature)
        );
        assert!(matches!(
            verify(SECRET, Some("yesterday"), Some(&sig), b"payload=1", now),
            Err(SignatureError::BadTimestamp(_))
        ));
    }

    #[test]
    fn an_old_or_future_timestamp_is_refused_even_with_a_good_signature() {
        let sent = 1_700_000_000_i64;
        let ts = sent.to_string();
        let sig = sign(SECRET, &ts, b"x");
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), b"x", sent + 300),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), b"x", sent + 301),
            Err(SignatureError::TooOld { age: 301 })
        );
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), b"x", sent - 301),
            Err(SignatureError::TooOld { age: -301 })
        );
    }

    #[test]
    fn the_same_signed_request_twice_is_a_replay() {
        let seen = Seen::default();
        assert_eq!(seen.admit("v0=aa", 100), Ok(()));
        assert_eq!(seen.admit("v0=bb", 101), Ok(()));
        assert_eq!(seen.admit("v0=aa", 150), Err(SignatureError::Replayed));
        // Forgotten once it could no longer pass the timestamp check.
        assert_eq!(seen.admit("v0=aa", 100 + 2 * MAX_AGE_SECONDS + 1), Ok(()));
    }
}
