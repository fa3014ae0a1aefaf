//! Cursor pagination over HTTP: `?limit=` (default 20, at most 100) and an opaque `?cursor=`
//! that points after the last item of the previous page. The page itself is
//! [`crate::domain::page`]'s.

use serde::Deserialize;

use crate::domain::page::decode;
pub use crate::domain::page::{Page, Paged, DEFAULT_PAGE, MAX_PAGE};
use crate::http::error::ApiError;

/// The query parameters of a list route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

impl TryFrom<PageQuery> for Page {
    type Error = ApiError;

    fn try_from(query: PageQuery) -> Result<Self, ApiError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        let after = query
            .cursor
            .as_deref()
            .map(decode)
            .transpose()
            .map_err(|_| ApiError::field("cursor", "is not a cursor this server issued"))?;
        Ok(Self { limit, after })
    }
}
