//! Knowledge-base articles and search.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::TenantCaller;
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::Article;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/knowledge/articles",
            get(list_articles).post(create_article),
        )
        .route(
            "/knowledge/articles/{article_id}",
            get(get_article).put(put_article),
        )
        .route("/knowledge/search", get(search))
}

async fn list_articles(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
) -> Result<Json<Vec<Article>>, ApiError> {
    let app = state.app.clone();
    blocking(move || Ok(Json(app.storage.articles(&tenant)?))).await
}

async fn get_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(article_id): ApiPath<String>,
) -> Result<Json<Article>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        crate::app::check_id("article id", &article_id)?;
        app.storage
            .article(&tenant, &article_id)?
            .map(Json)
            .ok_or_else(|| {
                crate::app::Error::NotFound(format!("article {article_id:?} does not exist"))
            })
    })
    .await
}

async fn create_article(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiJson(article): ApiJson<Article>,
) -> Result<(StatusCode, Json<Article>), ApiError> {
    let app = state.app.clone();
    let article = blocking(move || {
        app.put_article(&tenant, &article, true)?;
        Ok(article)
    })
    .await?;
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
    let app = state.app.clone();
    let article = blocking(move || {
        app.put_article(&tenant, &article, false)?;
        Ok(article)
    })
    .await?;
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
    score: f32,
}

async fn search(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if query.q.len() > 2048 {
        return Err(ApiError::BadRequest("q is longer than 2048 bytes".into()));
    }
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
                    score: h.score,
                })
                .collect(),
        ))
    })
    .await
}
