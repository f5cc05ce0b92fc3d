//! The web pages, served by the same binary: the agent desk (`/desk`), the
//! console (`/console`, for operators and tenant admins) and the customer
//! chat (`/chat/{tenant}`, with an embeddable snippet).
//!
//! Pages are small server-rendered shells; hand-written script modules
//! (`host/web/*.js`, embedded with `include_str!`, no build step) draw them
//! from the same `/v1` API that integrators use, signed in by a session
//! cookie (`session.rs`) instead of a bearer key. Every asset is in the
//! binary: no CDN, no external fonts, so the pages work offline.

pub mod assets;
pub mod chat;
pub mod i18n;
pub mod session;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::api::AppState;
use crate::app::KeyOwner;
use i18n::Lang;
use session::{SESSION_COOKIE, now_secs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/desk", get(desk_page))
        .route("/console", get(console_page))
        .route("/assets/{file}", get(assets::serve))
        .merge(chat::router())
}

/// Who a browser session belongs to, as the keys are now.
pub struct SignedIn {
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub operator: bool,
    pub csrf: String,
}

impl SignedIn {
    /// The page a sign-in lands on.
    fn home(&self) -> &'static str {
        if self.agent.is_some() {
            "/desk"
        } else {
            "/console"
        }
    }

    fn role(&self) -> &'static str {
        match (self.operator, &self.agent) {
            (true, _) => "operator",
            (false, Some(_)) => "agent",
            (false, None) => "admin",
        }
    }
}

/// The session of a request, if it has a valid one whose key still exists.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<SignedIn> {
    let cookie = session::cookie(headers, SESSION_COOKIE)?;
    let session = state.sessions.verify(cookie, now_secs())?;
    if state.operator_key.matches_hash(&session.key_hash) {
        return Some(SignedIn {
            tenant: None,
            agent: None,
            operator: true,
            csrf: session.csrf,
        });
    }
    let owner = crate::api::auth::tenant_of(state, &session.key_hash)
        .await
        .ok()??;
    Some(SignedIn {
        tenant: Some(owner.tenant),
        agent: owner.agent,
        operator: false,
        csrf: session.csrf,
    })
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// The interface language: `?lang=` (remembered in a cookie), the cookie,
/// then the browser's `Accept-Language`.
fn language(headers: &HeaderMap, query: &LangQuery) -> (Lang, Option<String>) {
    if let Some(lang) = query.lang.as_deref().and_then(Lang::parse) {
        return (
            lang,
            Some(format!(
                "sy_lang={}; Path=/; SameSite=Lax; Max-Age=31536000",
                lang.code()
            )),
        );
    }
    if let Some(lang) = session::cookie(headers, "sy_lang").and_then(Lang::parse) {
        return (lang, None);
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (Lang::from_accept_language(accept), None)
}

/// A page's response: security headers, and the language cookie when the
/// visitor just chose one.
fn page(html: String, lang_cookie: Option<String>, frame_ancestors: &str) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = lang_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// Text for HTML: the five characters that could end an element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a page's script needs to start: written into the page as JSON in
/// a `<script type="application/json">` (not run; read by the script).
#[derive(serde::Serialize)]
struct Boot<'a> {
    page: &'a str,
    lang: &'a str,
    role: Option<&'a str>,
    tenant: Option<&'a str>,
    agent: Option<&'a str>,
    strings: &'a serde_json::Map<String, serde_json::Value>,
}

/// What goes in a page's `<main>`: its attributes (escaped already) and
/// content; none means the script draws it (a loading line until then).
#[derive(Default)]
struct Main {
    attributes: String,
    html: Option<String>,
}

/// A page shell: the header with the language switch and sign-out, the
/// page's `<main>`, its data and its script module.
fn shell(
    lang: Lang,
    page_name: &str,
    title: &str,
    who: Option<&SignedIn>,
    body_class: &str,
    main: Main,
) -> String {
    let strings = i18n::strings(lang);
    let boot = Boot {
        page: page_name,
        lang: lang.code(),
        role: who.map(SignedIn::role),
        tenant: who.and_then(|w| w.tenant.as_deref()),
        agent: who.and_then(|w| w.agent.as_deref()),
        strings,
    };
    // `</` cannot end the data block early: JSON allows `<\/`.
    let boot_json = serde_json::to_string(&boot)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    let csrf = who.map(|w| w.csrf.as_str()).unwrap_or("");
    let t = |key: &str| escape(i18n::text(lang, key));
    let account = match who {
        Some(w) => format!(
            r#"<span class="who">{who_label}</span>
      <form method="post" action="/sign-out" class="inline">
        <input type="hidden" name="csrf" value="{csrf}">
        <button type="submit" class="link">{sign_out}</button>
      </form>"#,
            who_label = escape(&match (&w.tenant, &w.agent) {
                (_, _) if w.operator => i18n::text(lang, "role.operator").to_string(),
                (Some(t), Some(a)) => format!("{a} · {t}"),
                (Some(t), None) => format!("{} · {t}", i18n::text(lang, "role.admin")),
                (None, _) => String::new(),
            }),
            sign_out = t("sign_out"),
        ),
        None => String::new(),
    };
    let other = lang.other();
    format!(
        r##"<!doctype html>
<html lang="{lang_code}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="csrf-token" content="{csrf}">
  <title>{title} · Switchyard</title>
  <link rel="stylesheet" href="/assets/style.css?v={version}">
  <link rel="modulepreload" href="/assets/common.js">
  <link rel="icon" href="/assets/favicon.svg?v={version}" type="image/svg+xml">
</head>
<body class="{body_class}">
  <a class="skip" href="#main">{skip}</a>
  <header class="top">
    <span class="brand">Switchyard</span>
    <span class="page-title">{title}</span>
    <nav class="account" aria-label="{account_label}">
      <a href="?lang={other_code}" lang="{other_code}" hreflang="{other_code}">{other_name}</a>
      {account}
    </nav>
  </header>
  <main id="main" tabindex="-1"{main_attributes}>{main_html}</main>
  <noscript><p class="error">{noscript}</p></noscript>
  <script type="application/json" id="boot">{boot_json}</script>
  <script type="module" src="/assets/{page_name}.js?v={version}"></script>
</body>
</html>
"##,
        lang_code = lang.html_code(),
        title = escape(title),
        version = assets::VERSION.as_str(),
        skip = t("skip_to_content"),
        account_label = t("account"),
        other_code = other.code(),
        other_name = escape(other.name()),
        main_attributes = main.attributes,
        main_html = main
            .html
            .unwrap_or_else(|| format!(r#"<p class="loading" role="status">{}</p>"#, t("loading"))),
        noscript = t("noscript"),
    )
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Some(who) => Redirect::to(who.home()).into_response(),
        None => Redirect::to("/sign-in").into_response(),
    }
}

fn sign_in_html(lang: Lang, error: Option<&str>) -> String {
    let t = |key: &str| escape(i18n::text(lang, key));
    let error = match error {
        Some(message) => format!(
            r#"<p class="error" role="alert" id="sign-in-error">{}</p>"#,
            escape(message)
        ),
        None => String::new(),
    };
    let form = format!(
        r#"<section class="card sign-in" aria-labelledby="sign-in-title">
    <h1 id="sign-in-title">{title}</h1>
    <p>{explain}</p>
    {error}
    <form method="post" action="/sign-in">
      <label for="key">{key_label}</label>
      <input id="key" name="key" type="password" autocomplete="current-password" required
             spellcheck="false" autofocus{invalid}>
      <button type="submit" class="primary">{submit}</button>
    </form>
  </section>"#,
        title = t("sign_in"),
        explain = t("sign_in.explain"),
        key_label = t("sign_in.key"),
        submit = t("sign_in.submit"),
        invalid = if error.is_empty() {
            ""
        } else {
            r#" aria-invalid="true" aria-describedby="sign-in-error""#
        },
    );
    shell(
        lang,
        "sign-in",
        i18n::text(lang, "sign_in"),
        None,
        "narrow",
        Main {
            attributes: String::new(),
            html: Some(form),
        },
    )
}

/// A page that only says something (a closed chat): the sign-in page's
/// card, without the form.
fn notice_html(lang: Lang, title_key: &str, message: &str) -> String {
    let card = format!(
        r#"<section class="card" aria-labelledby="notice-title">
    <h1 id="notice-title">{}</h1>
    <p class="error" role="alert">{}</p>
  </section>"#,
        escape(i18n::text(lang, title_key)),
        escape(message)
    );
    shell(
        lang,
        "sign-in",
        i18n::text(lang, title_key),
        None,
        "narrow",
        Main {
            attributes: String::new(),
            html: Some(card),
        },
    )
}

async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    if let Some(who) = signed_in(&state, &headers).await {
        return Redirect::to(who.home()).into_response();
    }
    let (lang, cookie) = language(&headers, &query);
    page(sign_in_html(lang, None), cookie, "'none'")
}

#[derive(Deserialize)]
struct SignInForm {
    key: String,
}

/// Whether a form post comes from this server's own pages. Browsers say
/// where a request comes from in `Sec-Fetch-Site`; older ones only send
/// `Origin`, compared with `Host` (a proxy that rewrites `Host` should pass
/// the original, as most do with `proxy_set_header Host $host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let value = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let Some(origin) = value(header::ORIGIN) else {
        // Not a browser (curl, a test): no cookie of a victim to ride on.
        return true;
    };
    let host = value(header::HOST).unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// Whether the browser reached us over HTTPS: its `Origin` says so, or a
/// proxy in front does (`X-Forwarded-Proto`). The session cookie is then
/// `Secure`.
fn over_https(headers: &HeaderMap) -> bool {
    let starts_https = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("https"))
    };
    starts_https("origin") || starts_https("x-forwarded-proto")
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (lang, _) = language(&headers, &LangQuery { lang: None });
    let refuse = |status: StatusCode, key: &str| {
        let mut response = page(
            sign_in_html(lang, Some(i18n::text(lang, key))),
            None,
            "'none'",
        );
        *response.status_mut() = status;
        response
    };
    if !same_origin(&headers) {
        return refuse(StatusCode::FORBIDDEN, "sign_in.cross_site");
    }
    let Ok(Form(form)) = form else {
        return refuse(StatusCode::BAD_REQUEST, "sign_in.no_key");
    };
    let key = form.key.trim();
    if key.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "sign_in.no_key");
    }
    let hash = crate::app::hash_key(key);
    if let Err(e) = state.throttle.admit(&hash) {
        return e.into_response();
    }
    let home = if state.operator_key.matches_hash(&hash) {
        "/console"
    } else {
        match crate::api::auth::tenant_of(&state, &hash).await {
            Ok(Some(KeyOwner { agent: Some(_), .. })) => "/desk",
            Ok(Some(KeyOwner { agent: None, .. })) => "/console",
            Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "sign_in.unknown_key"),
            Err(e) => return e.into_response(),
        }
    };
    let (cookie, _) = state.sessions.issue(&hash, now_secs());
    let secure = over_https(&headers);
    let mut response = Redirect::to(home).into_response();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(&cookie, secure)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let session = session::cookie(&headers, SESSION_COOKIE)
        .and_then(|cookie| state.sessions.verify(cookie, now_secs()));
    let mut response = Redirect::to("/sign-in").into_response();
    match session {
        Some(session) if session.csrf_matches(&csrf) => {
            if let Ok(value) = HeaderValue::from_str(&session::clear_cookie()) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Some(_) => crate::api::ApiError::Forbidden(
            "missing or wrong CSRF token: sign out from the page's own button".into(),
        )
        .into_response(),
        // No session here (another site's form carries no Lax cookie):
        // nothing to end, and no cookie is touched, so another site cannot
        // sign anyone out.
        None => response,
    }
}

async fn desk_page(
    state: State<AppState>,
    headers: HeaderMap,
    query: Query<LangQuery>,
) -> Response {
    role_page(
        state,
        headers,
        query,
        "desk",
        |who| who.tenant.is_some(),
        "desk.for_agents",
    )
    .await
}

async fn console_page(
    state: State<AppState>,
    headers: HeaderMap,
    query: Query<LangQuery>,
) -> Response {
    role_page(
        state,
        headers,
        query,
        "console",
        |who| who.agent.is_none(),
        "console.for_admins",
    )
    .await
}

/// A signed-in page for the roles `allowed` lets in; the sign-in page for
/// nobody, and a 403 saying who it is for to anyone else.
async fn role_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
    page_name: &str,
    allowed: fn(&SignedIn) -> bool,
    refusal_key: &str,
) -> Response {
    let (lang, cookie) = language(&headers, &query);
    match signed_in(&state, &headers).await {
        Some(who) if allowed(&who) => page(
            shell(
                lang,
                page_name,
                i18n::text(lang, page_name),
                Some(&who),
                "app",
                Main::default(),
            ),
            cookie,
            "'none'",
        ),
        Some(_) => forbidden_page(lang, refusal_key),
        None => Redirect::to("/sign-in").into_response(),
    }
}

fn forbidden_page(lang: Lang, key: &str) -> Response {
    let mut response = page(
        sign_in_html(lang, Some(i18n::text(lang, key))),
        None,
        "'none'",
    );
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// An embedding site's origin: `https://host[:port]` (or `http://` for
/// local development), nothing after it.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("embed origin {origin:?} must start with https:// or http://"))?;
    let ok = !rest.is_empty()
        && rest.len() <= 253
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "embed origin {origin:?} must be scheme://host[:port], without a path"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_origins_are_a_scheme_and_a_host() {
        assert!(check_origin("https://shop.example").is_ok());
        assert!(check_origin("http://localhost:3000").is_ok());
        assert!(check_origin("https://shop.example/path").is_err());
        assert!(check_origin("shop.example").is_err());
        assert!(check_origin("https://").is_err());
        assert!(check_origin("https://a b").is_err());
    }

    #[test]
    fn html_escape_covers_quotes_and_brackets() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_form_from_another_site_is_not_same_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&headers));
        // Where the browser says where a request comes from, that decides
        // (a proxy may have rewritten Host).
        headers.insert(header::ORIGIN, "https://desk.example".parse().unwrap());
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(
            !same_origin(&headers),
            "a sibling subdomain is another site here"
        );
    }

    #[test]
    fn https_is_read_from_the_origin_or_the_proxy() {
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        headers.insert(header::ORIGIN, "https://desk.example".parse().unwrap());
        assert!(over_https(&headers));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert!(over_https(&proxied));
    }
}
