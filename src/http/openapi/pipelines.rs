//! Shapes of the pipeline API's bodies (built with `json!` by the handlers).
#![allow(dead_code)] // Types that only describe JSON built elsewhere.

use utoipa::ToSchema;

#[derive(ToSchema)]
pub struct Push {
    #[schema(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub pusher: Option<String>,
    pub commits_count: i64,
    pub received_at: String,
}

#[derive(ToSchema)]
pub struct Pushes {
    pub success: bool,
    pub repository: String,
    /// Newest first.
    pub pushes: Vec<Push>,
}

