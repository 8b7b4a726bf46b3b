use chrono::{DateTime, SubsecRound, Utc};

/// The current time at microsecond precision, the finest both databases store, so that a value
/// read back compares equal to the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `2026-01-05T10:30:00Z`: the timestamp format of the CCM API.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub mod serde_secs {
    //! Serializes timestamps in the CCM API's format (`2026-01-05T10:30:00Z`).
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(at))
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::super::format(at)),
                None => s.serialize_none(),
            }
        }
    }
}
