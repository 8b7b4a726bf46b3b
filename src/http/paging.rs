use super::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// The deepest offset a page may start at (far past any real listing; it keeps the arithmetic of
/// the listings' queries within range on both databases).
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// `limit` and `offset` query parameters within bounds, or a 400 that says which bound was crossed.
pub fn resolve(limit: Option<i64>, offset: Option<i64>, default_limit: i64) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(default_limit);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::BadRequest(format!("offset must be between 0 and {MAX_OFFSET}, got {offset}")));
    }
    Ok((limit, offset))
}

/// A `repository` filter: `owner/name` as provisioning checks it, else a 400 (absent: no filter).
pub fn repository_filter(repository: Option<&str>) -> Result<Option<String>, ApiError> {
    repository
        .map(|r| {
            crate::domain::pipeline::validate_repo(r)
                .map(|()| r.to_string())
                .map_err(|_| ApiError::BadRequest(format!("repository must be owner/name, got '{r}'")))
        })
        .transpose()
}
