//! Tickets opened by the ticket slot.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::TenantCaller;
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{Ticket, TicketStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list_tickets))
        .route("/tickets/{ticket_id}", get(get_ticket).patch(update_ticket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketFilter {
    status: Option<TicketStatus>,
    customer: Option<String>,
}

async fn list_tickets(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    filter: Result<Query<TicketFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let app = state.app.clone();
    blocking(move || {
        let tickets = app
            .storage
            .tickets(&tenant)?
            .into_iter()
            .filter(|t| filter.status.is_none_or(|s| t.status == s))
            .filter(|t| filter.customer.as_ref().is_none_or(|c| &t.customer_id == c))
            .collect();
        Ok(Json(tickets))
    })
    .await
}

async fn get_ticket(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(ticket_id): ApiPath<String>,
) -> Result<Json<Ticket>, ApiError> {
    crate::app::check_id("ticket id", &ticket_id)?;
    let app = state.app.clone();
    blocking(move || {
        app.storage
            .ticket(&tenant, &ticket_id)?
            .map(Json)
            .ok_or_else(|| {
                crate::app::Error::NotFound(format!("ticket {ticket_id:?} does not exist"))
            })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketUpdate {
    status: TicketStatus,
}

async fn update_ticket(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(ticket_id): ApiPath<String>,
    ApiJson(update): ApiJson<TicketUpdate>,
) -> Result<Json<Ticket>, ApiError> {
    crate::app::check_id("ticket id", &ticket_id)?;
    let app = state.app.clone();
    let ticket = blocking(move || {
        app.storage
            .set_ticket_status(&tenant, &ticket_id, update.status)?
            .ok_or_else(|| {
                crate::app::Error::NotFound(format!("ticket {ticket_id:?} does not exist"))
            })
    })
    .await?;
    state.app.storage.flush().await?;
    Ok(Json(ticket))
}
