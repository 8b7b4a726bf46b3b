//! Multi-row statements in a few fixed sizes.
//!
//! A batch of n rows written as one `INSERT ... VALUES (...), (...)` has a different SQL text for
//! every n, so each size is prepared (parsed and planned) anew and a connection's statement cache
//! fills with near-copies. Cutting a batch into power-of-two chunks (at most `MAX_ROWS`) keeps
//! the texts to a handful, each prepared once per connection, at the cost of at most a few
//! statements per batch (one per set bit of n). That matters on SQLite, where the prepared
//! statements live in ccm's memory (they took tens of MB under load) and each statement is a cheap
//! call; on PostgreSQL each statement is a network round trip inside the batch's transaction, so
//! a batch stays one statement there.

use crate::store::Backend;

/// The chunks a batch is written in on `backend`.
pub fn statement_chunks<T>(backend: Backend, items: &[T]) -> Vec<&[T]> {
    match backend {
        Backend::Postgres if items.is_empty() => Vec::new(),
        Backend::Postgres => vec![items],
        Backend::Sqlite => power_of_two_chunks(items).collect(),
    }
}

/// The largest chunk. SQLite looks a parameter's name up by a linear search, and sqlx asks for
/// every parameter's name when it binds, so binding costs grow with the square of a statement's
/// parameters: 128 rows of 21 columns spent more time there than in the inserts themselves.
pub const MAX_ROWS: usize = 32;

/// The `VALUES` list of a multi-row statement: `rows` tuples of `columns` numbered parameters.
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=columns {
            if c > 1 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * columns + c).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `items` cut into chunks whose lengths are powers of two, largest first.
pub fn power_of_two_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = (1usize << rest.len().ilog2()).min(MAX_ROWS);
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_covering_every_item_in_order() {
        for n in 0..600 {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = power_of_two_chunks(&items).collect();
            assert!(chunks.iter().all(|c| c.len().is_power_of_two() && c.len() <= MAX_ROWS), "{n}");
            assert_eq!(chunks.concat(), items, "{n}");
            if n <= MAX_ROWS {
                assert_eq!(chunks.len(), n.count_ones() as usize, "{n}");
            }
        }
    }

    #[test]
    fn placeholders_number_every_value_row_by_row() {
        assert_eq!(values_placeholders(1, 3), "($1, $2, $3)");
        assert_eq!(values_placeholders(2, 2), "($1, $2), ($3, $4)");
    }

    #[test]
    fn postgres_keeps_a_batch_in_one_statement_and_sqlite_cuts_it() {
        let items: Vec<usize> = (0..200).collect();
        assert_eq!(statement_chunks(Backend::Postgres, &items), vec![&items[..]]);
        assert!(statement_chunks::<usize>(Backend::Postgres, &[]).is_empty());
        let sqlite: Vec<usize> = statement_chunks(Backend::Sqlite, &items).iter().map(|c| c.len()).collect();
        assert_eq!(sqlite, vec![32, 32, 32, 32, 32, 32, 8]);
    }
}
