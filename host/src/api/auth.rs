//! Bearer-key authentication. Three roles: the operator key manages tenants
//! and plugins and acts for no tenant; a tenant's admin key acts for its
//! tenant; an agent key (issued by the tenant) acts only as that agent, on
//! the desk's endpoints (conversations, the event stream, the roster and
//! knowledge search), never on the tenant's settings, keys or plugins.
//!
//! A browser signed in with one of those keys (`web/session.rs`) sends a
//! session cookie instead of the header; its writes must carry the
//! session's CSRF token in `X-CSRF-Token`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{ApiError, AppState, blocking};
use crate::app::{KeyOwner, hash_key};
use crate::conversations::DeskActor;
use crate::metrics::Stage;

/// The tenant a key (by hash) acts for. A cached key costs no storage call;
/// otherwise the lookup runs on a blocking thread, never on an async worker
/// (a sled read there once blocked both workers behind a stuck flush).
pub(crate) async fn tenant_of(state: &AppState, hash: &str) -> Result<Option<KeyOwner>, ApiError> {
    if let Some(known) = state.app.cached_tenant_for_key(hash) {
        return Ok(known);
    }
    let (app, hash) = (state.app.clone(), hash.to_string());
    blocking(move || app.tenant_for_key_hash(&hash)).await
}

/// The operator key, kept as a hash and compared in constant time.
pub struct OperatorKey {
    hash: [u8; 32],
}

impl OperatorKey {
    pub fn new(key: &str) -> OperatorKey {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hash_key(key), &mut hash).expect("sha256 hex is 32 bytes");
        OperatorKey { hash }
    }

    /// Whether a key's hash (hex) is the operator key's, in constant time.
    pub fn matches_hash(&self, hash_hex: &str) -> bool {
        let mut other = [0u8; 32];
        if hex::decode_to_slice(hash_hex, &mut other).is_err() {
            return false;
        }
        crate::web::session::constant_time_eq(&self.hash, &other)
    }
}

/// The key a request acts with, by its hash, and whether it is the operator's.
pub(crate) struct Credential {
    pub hash: String,
    pub operator: bool,
}

/// A request's credential: the bearer key when there is an `Authorization`
/// header, else a browser session (whose writes need the CSRF token).
pub(crate) fn credential(parts: &Parts, state: &AppState) -> Result<Credential, ApiError> {
    let hash = if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        hash_key(bearer_of(&parts.headers)?)
    } else if let Some(cookie) =
        crate::web::session::cookie(&parts.headers, crate::web::session::SESSION_COOKIE)
    {
        let session = state
            .sessions
            .verify(cookie, crate::web::session::now_secs())
            .ok_or_else(|| ApiError::Unauthorized("the session has ended; sign in again".into()))?;
        if !parts.method.is_safe() {
            let token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !session.csrf_matches(token) {
                return Err(ApiError::Forbidden(
                    "missing or wrong CSRF token: a signed-in page sends its X-CSRF-Token with every change".into(),
                ));
            }
        }
        session.key_hash
    } else {
        return Err(ApiError::Unauthorized(
            "missing Authorization: Bearer <key> header".into(),
        ));
    };
    Ok(Credential {
        operator: state.operator_key.matches_hash(&hash),
        hash,
    })
}

/// The key of an `Authorization: Bearer <key>` header.
pub(crate) fn bearer_of(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization: Bearer <key> header".into())
        })?;
    let value = header.to_str().map_err(|_| {
        ApiError::Unauthorized("the Authorization header is not readable text".into())
    })?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be \"Bearer <key>\"".into())
        })
}

/// The tenant a request acts for, and the fingerprint of the key it used.
pub struct TenantCaller(pub String, pub String);

impl TenantCaller {
    pub fn actor(&self) -> crate::model::Actor {
        crate::model::Actor::tenant(self.1.clone())
    }
}

impl FromRequestParts<AppState> for TenantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let started = std::time::Instant::now();
        let Credential { hash, operator } = credential(parts, state)?;
        if operator {
            return Err(ApiError::Forbidden(
                "the operator key acts for no tenant; use the tenant's key".into(),
            ));
        }
        match tenant_of(state, &hash).await? {
            Some(KeyOwner {
                tenant,
                agent: None,
            }) => {
                state.throttle.admit(&hash)?;
                state.app.metrics.record_stage(Stage::Auth, started);
                Ok(TenantCaller(tenant, hash[..12].to_string()))
            }
            Some(KeyOwner {
                agent: Some(agent), ..
            }) => Err(ApiError::Forbidden(format!(
                "this is agent {agent}'s key: it acts on conversations only; this endpoint needs the tenant's admin key"
            ))),
            None => Err(ApiError::Unauthorized("unknown API key".into())),
        }
    }
}

/// A request from the desk: an agent with their own key, or the tenant's
/// admin key (which acts as no agent).
pub struct DeskCaller {
    pub tenant: String,
    pub actor: DeskActor,
}

impl FromRequestParts<AppState> for DeskCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Credential { hash, operator } = credential(parts, state)?;
        if operator {
            return Err(ApiError::Forbidden(
                "the operator key acts for no tenant; use an agent's key or the tenant's key"
                    .into(),
            ));
        }
        let Some(owner) = tenant_of(state, &hash).await? else {
            return Err(ApiError::Unauthorized("unknown API key".into()));
        };
        state.throttle.admit(&hash)?;
        Ok(DeskCaller {
            tenant: owner.tenant,
            actor: match owner.agent {
                Some(agent) => DeskActor::Agent(agent),
                None => DeskActor::Admin,
            },
        })
    }
}

/// A request that acts as an agent: only an agent's own key.
pub struct AgentCaller {
    pub tenant: String,
    pub agent: String,
}

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let desk = DeskCaller::from_request_parts(parts, state).await?;
        match desk.actor {
            DeskActor::Agent(agent) => Ok(AgentCaller {
                tenant: desk.tenant,
                agent,
            }),
            DeskActor::Admin => Err(ApiError::Forbidden(
                "this action is an agent's: use the agent's own key (POST /v1/agents/{id}/key issues one)".into(),
            )),
        }
    }
}

/// A request made with the operator key; carries the key's fingerprint for the audit log.
pub struct OperatorCaller {
    pub key_fingerprint: String,
}

impl OperatorCaller {
    pub fn actor(&self) -> crate::model::Actor {
        crate::model::Actor::operator(Some(self.key_fingerprint.clone()))
    }
}

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Credential { hash, operator } = credential(parts, state)?;
        if operator {
            state.throttle.admit(&hash)?;
            return Ok(OperatorCaller {
                key_fingerprint: hash[..12].to_string(),
            });
        }
        if tenant_of(state, &hash).await?.is_some() {
            return Err(ApiError::Forbidden(
                "this endpoint needs the operator key".into(),
            ));
        }
        Err(ApiError::Unauthorized("unknown API key".into()))
    }
}
