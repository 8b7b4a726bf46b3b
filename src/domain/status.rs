//! Every status ccm stores, as an enum: the text each one is stored and sent as is written once,
//! here. `text_enum!` gives an enum its text, parsing, serde, and its conversions for both
//! databases (sqlx) and SQLite's C-API paths (rusqlite).
//!
//! GitHub's run and job statuses and conclusions are open sets (GitHub adds values): a value ccm
//! does not know is kept as `Other` with its text, stored and sent on unchanged.

use std::fmt;
use std::str::FromStr;

/// A text that names no value of a closed status enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}' (expected one of: {expected})")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

/// The text conversions an enum with `as_str` and `FromStr` gets: `Display`, serde, sqlx and
/// rusqlite.
macro_rules! text_conversions {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            for<'a> &'a str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, DB>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<Self>()?)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(self.as_str().as_bytes())))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|err| rusqlite::types::FromSqlError::Other(Box::new(err)))
            }
        }
    };
}

/// A closed set of statuses: `Variant = "text"`, in the order they are listed in errors and
/// documents.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub const fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The texts of every value, for error messages and documents.
            pub fn texts() -> Vec<&'static str> {
                Self::ALL.iter().map(Self::as_str).collect()
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: $kind, value: text.to_string(), expected: Self::texts().join(", ") }),
                }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::texts()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        text_conversions!($name);
    };
}

/// An open set of GitHub's values: the known ones as variants, any other kept as `Other`.
macro_rules! open_text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value GitHub sent that ccm does not know, kept as sent.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(text))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .examples([$($text),+])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        text_conversions!($name);
    };
}

text_enum!(
    /// What an API token may do, each including the ones before it (`read < write < admin`):
    /// `read` GET only, `write` changes pipelines and tasks, `admin` everything (tokens, import,
    /// replay, settings). Which routes need which is set where they are registered
    /// (`http::routes`).
    #[derive(PartialOrd, Ord)]
    Scope, "scope" {
        Read = "read",
        Write = "write",
        Admin = "admin",
    }
);

text_enum!(
    /// Whether a pipeline's runs are followed.
    PipelineStatus, "pipeline status" {
        Active = "active",
        Inactive = "inactive",
    }
);

text_enum!(
    /// Where a webhook delivery stands.
    DeliveryStatus, "delivery status" {
        /// Stored, not yet processed.
        Pending = "pending",
        Processed = "processed",
        /// An event ccm does not act on.
        Ignored = "ignored",
        /// Processing failed; retried later.
        Failed = "failed",
        /// Processing failed every attempt; kept for an operator.
        Parked = "parked",
    }
);

text_enum!(
    /// A research task's status.
    TaskStatus, "task status" {
        Todo = "todo",
        InProgress = "in_progress",
        Done = "done",
    }
);

text_enum!(
    /// A research task's priority.
    TaskPriority, "task priority" {
        High = "high",
        Medium = "medium",
        Low = "low",
    }
);

text_enum!(
    /// Where a job of the outbox (a call to GitHub) stands.
    OutboxJobStatus, "outbox job status" {
        /// Queued, due at its `next_attempt_at`.
        Pending = "pending",
        /// Claimed by a worker, until its lease ends.
        Running = "running",
        Done = "done",
        /// Given up: refused, or out of attempts.
        Failed = "failed",
    }
);

text_enum!(
    /// Where the backfill of a pipeline's recent runs stands.
    BackfillStatus, "backfill status" {
        Running = "running",
        Done = "done",
        /// It could not be queued, or GitHub refused it.
        Failed = "failed",
    }
);

text_enum!(
    /// Where a completed job's log stands in ccm (`job_logs.state`).
    JobLogState, "job log state" {
        /// Fetched from GitHub and kept (its tail, up to CCM_JOB_LOG_MAX_MB).
        Stored = "stored",
        /// GitHub no longer has it (logs expire after the repository's retention).
        Expired = "expired",
        /// GitHub refused it, or every attempt to fetch it failed.
        Unavailable = "unavailable",
        /// Removed to keep the logs within CCM_JOB_LOG_BUDGET_MB (oldest first).
        Evicted = "evicted",
        /// Removed by retention: older than CCM_RETAIN_JOB_LOGS.
        Pruned = "pruned",
    }
);

text_enum!(
    /// Where an alert channel sends: a signed JSON POST, a Slack-compatible incoming webhook, or
    /// e-mail.
    ChannelKind, "channel kind" {
        Webhook = "webhook",
        Slack = "slack",
        Email = "email",
    }
);

text_enum!(
    /// What an alert rule watches (see `domain::alerts`).
    AlertKind, "alert kind" {
        RunFailed = "run_failed",
        HealthBelow = "health_below",
        SuccessRateBelow = "success_rate_below",
        RunStuck = "run_stuck",
        HookSilent = "hook_silent",
        DeliveriesParked = "deliveries_parked",
        GithubPaused = "github_paused",
    }
);

text_enum!(
    /// Where an alert stands: firing until its condition clears (resolved); acknowledged is
    /// firing, seen by someone.
    AlertState, "alert state" {
        Firing = "firing",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
);

text_enum!(
    /// What a notification announces.
    AlertEvent, "alert event" {
        Firing = "firing",
        Resolved = "resolved",
    }
);

text_enum!(
    /// Where a queued notification stands.
    NotificationStatus, "notification status" {
        Pending = "pending",
        Running = "running",
        Sent = "sent",
        /// Given up after the retry period.
        Failed = "failed",
    }
);

open_text_enum!(
    /// A workflow run's or job's status, as GitHub reports it.
    RunStatus {
        Requested = "requested",
        Queued = "queued",
        Waiting = "waiting",
        Pending = "pending",
        InProgress = "in_progress",
        Completed = "completed",
    }
);

open_text_enum!(
    /// How a completed workflow run or job ended, as GitHub reports it.
    Conclusion {
        Success = "success",
        Failure = "failure",
        Neutral = "neutral",
        Cancelled = "cancelled",
        Skipped = "skipped",
        TimedOut = "timed_out",
        ActionRequired = "action_required",
        Stale = "stale",
        StartupFailure = "startup_failure",
    }
);

open_text_enum!(
    /// A deployment's state, as its latest `deployment_status` says.
    DeploymentState {
        Queued = "queued",
        Pending = "pending",
        InProgress = "in_progress",
        Success = "success",
        Failure = "failure",
        Error = "error",
        Inactive = "inactive",
    }
);

impl OutboxJobStatus {
    /// Done or failed: the job will not run again.
    pub fn is_finished(self) -> bool {
        matches!(self, OutboxJobStatus::Done | OutboxJobStatus::Failed)
    }
}

impl Conclusion {
    /// A run or job that failed: `failure`, `timed_out` or `startup_failure` (not `cancelled`,
    /// which someone chose).
    pub fn is_failure(&self) -> bool {
        matches!(self, Conclusion::Failure | Conclusion::TimedOut | Conclusion::StartupFailure)
    }
}

impl RunStatus {
    /// requested / queued / waiting / pending < in_progress < completed; a status ccm does not
    /// know ranks lowest. A stored run or job only moves to a higher rank (or, at the same rank, to a
    /// newer `updated_at`), so late or repeated events never move it backwards.
    pub fn rank(&self) -> i64 {
        match self {
            RunStatus::Completed => 3,
            RunStatus::InProgress => 2,
            RunStatus::Requested | RunStatus::Queued | RunStatus::Waiting | RunStatus::Pending => 1,
            RunStatus::Other(_) => 0,
        }
    }

    /// Runs that are executing now.
    pub fn is_active(&self) -> bool {
        *self == RunStatus::InProgress
    }

    /// Runs that wait for a runner or an approval.
    pub fn is_queued(&self) -> bool {
        self.rank() == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_enums_round_trip_through_their_text() {
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>().unwrap(), *status);
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
            assert_eq!(serde_json::from_value::<TaskStatus>(serde_json::json!(status.as_str())).unwrap(), *status);
        }
        assert_eq!(DeliveryStatus::texts(), ["pending", "processed", "ignored", "failed", "parked"]);
        assert_eq!(PipelineStatus::Inactive.to_string(), "inactive");
    }

    #[test]
    fn an_unknown_closed_value_is_an_error_naming_the_choices() {
        let err = "urgent".parse::<TaskPriority>().unwrap_err();
        assert_eq!(err.to_string(), "unknown task priority 'urgent' (expected one of: high, medium, low)");
        assert!(serde_json::from_value::<TaskPriority>(serde_json::json!("urgent")).is_err());
    }

    #[tokio::test]
    async fn statuses_are_bound_and_read_as_text() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let (status, text): (OutboxJobStatus, String) =
            sqlx::query_as("SELECT $1, $1").bind(OutboxJobStatus::Running).fetch_one(&pool).await.unwrap();
        assert_eq!((status, text.as_str()), (OutboxJobStatus::Running, "running"));
        let (conclusion,): (Conclusion,) =
            sqlx::query_as("SELECT $1").bind(Conclusion::parse("new_one")).fetch_one(&pool).await.unwrap();
        assert_eq!(conclusion.as_str(), "new_one");
        let read = rusqlite::Connection::open_in_memory()
            .unwrap()
            .query_row("SELECT ?1", [TaskStatus::InProgress], |row| row.get::<_, TaskStatus>(0))
            .unwrap();
        assert_eq!(read, TaskStatus::InProgress);
    }

    #[test]
    fn open_enums_keep_values_they_do_not_know() {
        assert_eq!(Conclusion::parse("timed_out"), Conclusion::TimedOut);
        let new = RunStatus::parse("something_new");
        assert_eq!(new, RunStatus::Other("something_new".into()));
        assert_eq!(new.as_str(), "something_new");
        assert_eq!(serde_json::to_value(&new).unwrap(), serde_json::json!("something_new"));
    }

    #[test]
    fn run_states_are_ordered() {
        let rank = |s: &str| RunStatus::parse(s).rank();
        assert!(rank("requested") < rank("in_progress"));
        assert!(rank("queued") < rank("in_progress"));
        assert!(rank("waiting") < rank("in_progress"));
        assert!(rank("in_progress") < rank("completed"));
        assert_eq!(rank("queued"), rank("requested"));
        assert!(rank("something_new") < rank("queued"));
        assert!(RunStatus::Waiting.is_queued() && !RunStatus::InProgress.is_queued());
        assert!(RunStatus::InProgress.is_active() && !RunStatus::Completed.is_active());
    }
}
