//! A named API token as `api_tokens` stores it.

use super::SqlType::{Int, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::tokens::ApiToken;

impl ReadRow for ApiToken {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("name", Text),
        column("scope", Text),
        column("token_hash", Text),
        column("created_at", Time),
        column("expires_at", Time),
        column("revoked_at", Time),
        column("last_used_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(ApiToken {
            id: cells.next()?,
            name: cells.next()?,
            scope: cells.next()?,
            token_hash: cells.next()?,
            created_at: cells.next()?,
            expires_at: cells.next()?,
            revoked_at: cells.next()?,
            last_used_at: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<ApiToken>();
    }
}
