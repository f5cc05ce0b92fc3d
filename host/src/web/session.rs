//! Browser sessions. Signing in exchanges a key for a session cookie; the
//! key itself never reaches the page's script, a URL or the browser's
//! storage.
//!
//! The cookie is `<key hash>.<expiry>.<nonce>.<mac>`: an HMAC-SHA256 under a
//! secret kept in the store (so sessions survive a restart and hosts sharing
//! a store share them). It names the key by its hash, so each request is
//! checked against the keys as they are now: rotating or revoking a key ends
//! its sessions. The cookie is `HttpOnly` and `SameSite=Lax`; writes made
//! with it must also carry the session's CSRF token (derived from the nonce,
//! handed to the page in a `<meta>` tag), which another site cannot read.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::{Error, Result};
use crate::storage::Storage;

pub const SESSION_COOKIE: &str = "sy_session";
/// How long a sign-in lasts: a working day with room to spare.
pub const SESSION_SECS: u64 = 12 * 3600;
const SECRET_META: &str = "web.session_secret";

/// The secret that signs sessions.
pub struct SessionKeys {
    secret: [u8; 32],
}

/// A session read from a valid cookie.
#[derive(Clone, Debug)]
pub struct Session {
    /// The hash of the key the session was opened with.
    pub key_hash: String,
    /// What forms and script must send back with every write.
    pub csrf: String,
    pub expires_at_secs: u64,
}

impl SessionKeys {
    /// The store's secret, made on first use.
    pub fn load_or_create(storage: &Storage) -> Result<SessionKeys> {
        if let Some(hex_secret) = storage.meta(SECRET_META)? {
            let mut secret = [0u8; 32];
            hex::decode_to_slice(hex_secret.trim(), &mut secret)
                .map_err(|e| Error::Internal(format!("{SECRET_META} is damaged: {e}")))?;
            return Ok(SessionKeys { secret });
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Internal(format!("no randomness for the session secret: {e}")))?;
        storage.put_meta(SECRET_META, &hex::encode(secret))?;
        storage.flush_blocking()?;
        Ok(SessionKeys { secret })
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"|");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session for the key with this hash; returns the cookie value.
    pub fn issue(&self, key_hash: &str, now_secs: u64) -> (String, Session) {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the OS has randomness");
        let nonce = hex::encode(nonce);
        let expires = now_secs + SESSION_SECS;
        let payload = format!("{key_hash}.{expires}.{nonce}");
        let cookie = format!("{payload}.{}", self.mac(&["session", &payload]));
        let session = Session {
            key_hash: key_hash.to_string(),
            csrf: self.mac(&["csrf", &nonce])[..32].to_string(),
            expires_at_secs: expires,
        };
        (cookie, session)
    }

    /// The session a cookie value stands for, if it is ours and unexpired.
    pub fn verify(&self, cookie: &str, now_secs: u64) -> Option<Session> {
        let (payload, mac) = cookie.rsplit_once('.')?;
        if !constant_time_eq(mac.as_bytes(), self.mac(&["session", payload]).as_bytes()) {
            return None;
        }
        let mut fields = payload.split('.');
        let (key_hash, expires, nonce) = (fields.next()?, fields.next()?, fields.next()?);
        let expires: u64 = expires.parse().ok()?;
        if fields.next().is_some() || expires <= now_secs {
            return None;
        }
        Some(Session {
            key_hash: key_hash.to_string(),
            csrf: self.mac(&["csrf", nonce])[..32].to_string(),
            expires_at_secs: expires,
        })
    }
}

impl SessionKeys {
    /// A web-chat visitor's token: which tenant's chat, which visitor. It
    /// is the visitor's only credential (kept by the chat page, sent as
    /// `Authorization: Visitor <token>`) and opens that visitor's own
    /// conversation and nothing else.
    pub fn visitor_token(&self, tenant: &str, visitor: &str) -> String {
        let payload = format!("{tenant}.{visitor}");
        format!("{payload}.{}", self.mac(&["visitor", &payload]))
    }

    /// The (tenant, visitor) a token was made for, if it is ours.
    pub fn visitor(&self, token: &str) -> Option<(String, String)> {
        let (payload, mac) = token.rsplit_once('.')?;
        if !constant_time_eq(mac.as_bytes(), self.mac(&["visitor", payload]).as_bytes()) {
            return None;
        }
        let (tenant, visitor) = payload.rsplit_once('.')?;
        Some((tenant.to_string(), visitor.to_string()))
    }
}

impl Session {
    /// Whether a request's token is this session's.
    pub fn csrf_matches(&self, token: &str) -> bool {
        constant_time_eq(token.as_bytes(), self.csrf.as_bytes())
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of one cookie in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for a new session; `Secure` when the request came over
/// HTTPS (a proxy in front says so in `X-Forwarded-Proto`).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

pub fn now_secs() -> u64 {
    crate::model::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys { secret: [7; 32] }
    }

    #[test]
    fn a_session_verifies_until_it_expires_and_not_a_second_longer() {
        let (cookie, issued) = keys().issue("ab12", 1_000);
        let read = keys().verify(&cookie, 1_000 + SESSION_SECS - 1).unwrap();
        assert_eq!(read.key_hash, "ab12");
        assert_eq!(read.csrf, issued.csrf);
        assert!(keys().verify(&cookie, 1_000 + SESSION_SECS).is_none());
    }

    #[test]
    fn a_changed_cookie_or_another_secret_is_refused() {
        let (cookie, _) = keys().issue("ab12", 1_000);
        let forged = cookie.replacen("ab12", "ab13", 1);
        assert!(keys().verify(&forged, 1_000).is_none());
        let other = SessionKeys { secret: [8; 32] };
        assert!(other.verify(&cookie, 1_000).is_none());
        // A later expiry written by hand does not verify either.
        let (payload, mac) = cookie.rsplit_once('.').unwrap();
        let mut fields: Vec<&str> = payload.split('.').collect();
        let later = (1_000 + SESSION_SECS * 10).to_string();
        fields[1] = &later;
        assert!(
            keys()
                .verify(&format!("{}.{mac}", fields.join(".")), 1_000)
                .is_none()
        );
    }

    #[test]
    fn a_visitor_token_names_its_tenant_and_cannot_be_moved_to_another() {
        let token = keys().visitor_token("demo", "v0a1");
        assert_eq!(
            keys().visitor(&token),
            Some(("demo".to_string(), "v0a1".to_string()))
        );
        let moved = token.replacen("demo", "bank", 1);
        assert_eq!(keys().visitor(&moved), None);
        // A session cookie is not a visitor token, nor the reverse.
        let (cookie, _) = keys().issue("ab12", 1_000);
        assert_eq!(keys().visitor(&cookie), None);
        assert!(keys().verify(&token, 1_000).is_none());
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let (_, a) = keys().issue("ab12", 1_000);
        let (_, b) = keys().issue("ab12", 1_000);
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_matches(&a.csrf));
        assert!(!a.csrf_matches(&b.csrf));
        assert!(!a.csrf_matches(""));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; sy_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
