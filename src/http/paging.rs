use super::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// `limit` and `offset` query parameters within bounds, or a 400 that says which bound was crossed.
pub fn resolve(limit: Option<i64>, offset: Option<i64>, default_limit: i64) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(default_limit);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest(format!("offset must not be negative, got {offset}")));
    }
    Ok((limit, offset))
}
