//! Paging of every list the API returns: `?limit=` (1 to [`MAX_PAGE`],
//! default [`DEFAULT_PAGE`]) and `?after=` (the `next` of the previous
//! page, opaque). A list answers `{"<items>": [...], "next": "…" | null}`.

use super::ApiError;
use crate::storage::Cursor;

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;

/// Where a page starts and how long it is, checked.
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: usize,
}

impl PageRequest {
    pub fn new(limit: Option<usize>, after: Option<&str>) -> Result<PageRequest, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_PAGE}, not {limit}"
            )));
        }
        let after = match after {
            None => None,
            Some(text) => Some(Cursor::parse(text).ok_or_else(|| {
                ApiError::BadRequest(
                    "after must be the \"next\" of a page this server returned".into(),
                )
            })?),
        };
        Ok(PageRequest { after, limit })
    }
}

/// The serde form of a cursor for a response.
pub fn next(cursor: Option<Cursor>) -> Option<String> {
    cursor.map(|c| c.to_string())
}
