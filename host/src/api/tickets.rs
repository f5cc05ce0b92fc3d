//! Tickets opened by the ticket slot.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::TenantCaller;
use super::page::{self, PageRequest};
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
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct TicketPage {
    tickets: Vec<Ticket>,
    next: Option<String>,
}

async fn list_tickets(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    filter: Result<Query<TicketFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TicketPage>, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(filter.limit, filter.after.as_deref())?;
    if let Some(customer) = &filter.customer {
        crate::app::check_id("customer id", customer)?;
    }
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found = app.storage.tickets_page(
            &tenant,
            filter.customer.as_deref(),
            filter.status,
            page.after.as_ref(),
            page.limit,
        )?;
        Ok(Json(TicketPage {
            tickets: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn get_ticket(
    State(state): State<AppState>,
    super::auth::DeskCaller { tenant, .. }: super::auth::DeskCaller,
    ApiPath(ticket_id): ApiPath<String>,
) -> Result<Json<Ticket>, ApiError> {
    crate::app::check_id("ticket id", &ticket_id)?;
    let _slot = state.throttle.run_slot(&tenant).await;
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
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let ticket =
        blocking(move || app.set_ticket_status(&tenant, &ticket_id, update.status)).await?;
    Ok(Json(ticket))
}
