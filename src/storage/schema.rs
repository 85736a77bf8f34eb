//! Applies `schema.sql`, embedded in the binary, to a database file at start-up.

use rusqlite::Connection;

use super::StoreError;

/// The schema, as numbered migrations (see the file's header for the format).
const SCHEMA: &str = include_str!("../../schema.sql");

/// The marker that opens each migration in `schema.sql`.
const MARKER: &str = "-- migration ";

/// The migrations of `schema.sql` as (version, SQL), in order.
fn migrations() -> Vec<(i64, &'static str)> {
    let mut out = Vec::new();
    let mut rest = SCHEMA;
    while let Some(start) = rest.find(MARKER) {
        let body = &rest[start + MARKER.len()..];
        let version: i64 = body
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("schema.sql: every migration marker carries its number");
        let end = body.find(MARKER).unwrap_or(body.len());
        // The SQL starts on the line after the marker, which also carries a title.
        let sql_start = body[..end].find('\n').unwrap_or(end);
        out.push((version, &body[sql_start..end]));
        rest = &body[end..];
    }
    out
}

/// The schema version this binary writes.
pub fn latest_version() -> i64 {
    migrations().last().map(|(v, _)| *v).unwrap_or(0)
}

/// Brings the database up to the latest version, one transaction per migration, so that a
/// crash in the middle leaves the file at the previous version rather than half-migrated.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let latest = latest_version();
    if current > latest {
        log::error!(
            "the database is at schema version {current}, newer than this binary's {latest}"
        );
        return Err(StoreError::Other(format!(
            "database schema version {current} is newer than this fruxon ({latest}); \
             run a newer fruxon"
        )));
    }

    for (version, sql) in migrations().into_iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        log::info!("database migrated to schema version {version}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        let versions: Vec<i64> = migrations().iter().map(|(v, _)| *v).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected);
    }
}
