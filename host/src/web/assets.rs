//! The pages' static files, compiled into the binary: `GET /assets/{file}`.
//! Pages link them with `?v=<VERSION>` (a hash of all of them), so a new
//! binary's pages never run an old cached script.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Name, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/common.js"),
    ),
    (
        "sign-in.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/sign-in.js"),
    ),
    (
        "desk.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/desk.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/console.js"),
    ),
    (
        "plot.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/plot.js"),
    ),
    (
        "numbers.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/numbers.js"),
    ),
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/chat.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../web/favicon.svg"),
    ),
];

/// A short hash of every asset: the pages' cache-busting version.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (name, _, body) in FILES {
        hash.update(name.as_bytes());
        hash.update(body.as_bytes());
    }
    hex::encode(hash.finalize())[..12].to_string()
});

pub fn find(name: &str) -> Option<(&'static str, &'static str)> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, body)| (*kind, *body))
}

#[derive(serde::Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// A versioned link (`?v=` this binary's VERSION) is cached for good; a
/// plain one (a module's `import`) is checked again each time, cheaply:
/// the ETag answers 304.
pub async fn serve(
    Path(file): Path<String>,
    axum::extract::Query(query): axum::extract::Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((kind, body)) = find(&file) else {
        return crate::api::ApiError::NotFound(format!(
            "no asset {:?}",
            file.chars().take(100).collect::<String>()
        ))
        .into_response();
    };
    let etag = format!("\"{}\"", VERSION.as_str());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if query.v.as_deref() == Some(VERSION.as_str()) {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    response
}
