//! Knowledge-base articles (drafts and published), search, and blind-spot
//! mining with its drafts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::TenantCaller;
use super::page::{self, PageRequest};
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::mining::{Draft, MineOptions, MineReport};
use crate::model::{Article, ReplyTemplate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/knowledge/articles",
            get(list_articles).post(create_article),
        )
        .route(
            "/knowledge/articles/{article_id}",
            get(get_article).put(put_article).delete(delete_article),
        )
        .route(
            "/knowledge/articles/{article_id}/publish",
            post(publish_article),
        )
        .route(
            "/knowledge/articles/{article_id}/unpublish",
            post(unpublish_article),
        )
        .route("/knowledge/search", get(search))
        .route("/knowledge/mine", post(mine))
        .route("/knowledge/drafts", get(drafts))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// "draft", "published" or "all" (the default).
    #[serde(default)]
    status: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct ArticlePage {
    articles: Vec<Article>,
    next: Option<String>,
}

async fn list_articles(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ArticlePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let wanted: Option<bool> = match query.status.as_deref() {
        None | Some("all") => None,
        Some("published") => Some(true),
        Some("draft") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status {other:?} is not one of draft, published, all"
            )));
        }
    };
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found = app
            .storage
            .articles_page(&tenant, wanted, page.after.as_ref(), page.limit)?;
        Ok(Json(ArticlePage {
            articles: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn delete_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(article_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || app.delete_article(&tenant, &article_id)).await?;
    state.app.storage.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn publish_article(
    state: State<AppState>,
    caller: TenantCaller,
    path: ApiPath<String>,
) -> Result<Json<Article>, ApiError> {
    set_published(state, caller, path, true).await
}

async fn unpublish_article(
    state: State<AppState>,
    caller: TenantCaller,
    path: ApiPath<String>,
) -> Result<Json<Article>, ApiError> {
    set_published(state, caller, path, false).await
}

async fn set_published(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(article_id): ApiPath<String>,
    published: bool,
) -> Result<Json<Article>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let article =
        blocking(move || app.set_article_published(&tenant, &article_id, published)).await?;
    state.app.storage.flush().await?;
    Ok(Json(article))
}

async fn mine(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiJson(options): ApiJson<MineOptions>,
) -> Result<Json<MineReport>, ApiError> {
    // Not one of the tenant's message slots: a run takes seconds. One run per
    // tenant, and few across tenants (`Throttle::background_slot`).
    let _run = state.throttle.background_slot(&tenant).await?;
    let app = state.app.clone();
    let report = blocking(move || app.mine_blind_spots(&tenant, &options)).await?;
    state.app.storage.flush().await?;
    Ok(Json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftQuery {
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct DraftPage {
    drafts: Vec<Draft>,
    next: Option<String>,
}

async fn drafts(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<DraftQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DraftPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found = app.drafts(&tenant, page.after.as_ref(), page.limit)?;
        Ok(Json(DraftPage {
            drafts: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn get_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(article_id): ApiPath<String>,
) -> Result<Json<Article>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.article(&tenant, &article_id)?))).await
}

async fn create_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiJson(article): ApiJson<Article>,
) -> Result<(StatusCode, Json<Article>), ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let article = blocking(move || app.put_article(&tenant, &article, true)).await?;
    state.app.storage.flush().await?;
    Ok((StatusCode::CREATED, Json(article)))
}

async fn put_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(article_id): ApiPath<String>,
    ApiJson(article): ApiJson<Article>,
) -> Result<Json<Article>, ApiError> {
    if article.id != article_id {
        return Err(ApiError::BadRequest(format!(
            "the body's id {:?} differs from the path's {article_id:?}",
            article.id
        )));
    }
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let article = blocking(move || app.put_article(&tenant, &article, false)).await?;
    state.app.storage.flush().await?;
    Ok(Json(article))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    5
}

#[derive(Serialize)]
struct SearchHit {
    id: String,
    title: String,
    snippet: String,
    templates: Vec<ReplyTemplate>,
    /// Relevance in [0, 1]; the two parts it combines follow.
    score: f32,
    keyword_score: f32,
    ngram_score: f32,
}

async fn search(
    State(state): State<AppState>,
    super::auth::DeskCaller { tenant, .. }: super::auth::DeskCaller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if query.q.len() > 2048 {
        return Err(ApiError::BadRequest("q is longer than 2048 bytes".into()));
    }
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let hits = app
            .knowledge(&tenant)?
            .search(&query.q, query.limit.min(20));
        Ok(Json(
            hits.into_iter()
                .map(|h| SearchHit {
                    id: h.id,
                    title: h.title,
                    snippet: h.snippet,
                    templates: h.templates,
                    score: h.score,
                    keyword_score: h.keyword_score,
                    ngram_score: h.ngram_score,
                })
                .collect(),
        ))
    })
    .await
}
