//! The last backup (issue 18), which the dashboard's overview shows: `GET /api/backups/latest`.
//! On SQLite, the newest backup in `CCM_DATA_DIR/backups/` (scheduled, or `ccm backup` without
//! `--output`), read from the folder so that a restart does not forget it; on PostgreSQL ccm
//! takes none (pg_dump does), and says so.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock::serde_secs;
use crate::store::Backend;

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/backups/latest").get(latest));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(latest))]
pub(super) struct Api;

/// Which database ccm keeps its data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum DatabaseKind {
    /// The embedded default: ccm takes its backups (`ccm backup`, `CCM_BACKUP_INTERVAL`).
    Sqlite,
    /// Backed up with pg_dump, which ccm does not see.
    Postgres,
}

/// A backup file in `CCM_DATA_DIR/backups/`.
#[derive(Serialize, ToSchema)]
struct BackupView {
    /// Its file name in the backups folder.
    #[schema(example = "ccm-20261204T101500.000Z.db")]
    file: String,
    /// When it was taken (UTC).
    #[serde(with = "serde_secs")]
    #[schema(value_type = String, example = "2026-12-04T10:15:00Z")]
    taken_at: DateTime<Utc>,
    /// Its size in bytes.
    bytes: u64,
}

#[derive(Serialize, ToSchema)]
struct LatestBackup {
    success: bool,
    database: DatabaseKind,
    /// The newest backup; null when none was taken yet, and on PostgreSQL.
    backup: Option<BackupView>,
}

/// The newest backup of the SQLite database, for the dashboard's overview.
#[utoipa::path(get, path = "/api/backups/latest", operation_id = "latest_backup", tag = "operations",
    responses((status = 200, description = "The newest backup (null: none yet, or on PostgreSQL)", body = LatestBackup)))]
async fn latest(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let database = match state.store.backend() {
        Backend::Sqlite => DatabaseKind::Sqlite,
        Backend::Postgres => DatabaseKind::Postgres,
    };
    let backup = match (&state.backups, database) {
        (Some(dir), DatabaseKind::Sqlite) => {
            let dir = dir.clone();
            let found = web::block(move || crate::store::sqlite_backup::latest(&dir))
                .await
                .map_err(|err| ApiError::Internal(anyhow::anyhow!("reading the backups folder: {err}")))?;
            found.map(|b| BackupView { file: b.name, taken_at: b.taken_at, bytes: b.bytes })
        }
        _ => None,
    };
    Ok(HttpResponse::Ok().json(LatestBackup { success: true, database, backup }))
}
