//! What a store's backend failed with, kept whole as the source of a
//! [`StoreError::Backend`](super::StoreError::Backend) so the log shows every cause, with the
//! SQLite extended result code or the PostgreSQL SQLSTATE code, while clients only ever get a
//! generic answer.

use std::fmt;

/// The error a backend returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// SQLite. A failure of SQLite itself has its extended result code in its source
    /// (`Error code 2067: A UNIQUE constraint failed`).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL or the connection to it; the server's message is in the source.
    #[error("PostgreSQL{}", Sqlstate(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// A connection pool: no connection came free in time, or the pool cannot be built.
    #[error("connection pool")]
    Pool(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The S3 client.
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    /// The file system, or a stream of bytes.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The task that ran a blocking call panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// ` (SQLSTATE 23505)` when the server sent a code, else nothing.
struct Sqlstate<'a>(&'a tokio_postgres::Error);

impl fmt::Display for Sqlstate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.code() {
            Some(code) => write!(f, " (SQLSTATE {})", code.code()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Chain;
    use crate::store::StoreError;

    #[test]
    fn a_backend_error_keeps_its_source_and_sqlite_code_for_the_log() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (name TEXT UNIQUE); INSERT INTO t VALUES ('a');")
            .unwrap();
        let failed = conn.execute("INSERT INTO t VALUES ('a')", []).unwrap_err();
        let error = StoreError::backend("insert into `t`", failed);
        assert_eq!(error.to_string(), "storage backend: insert into `t`");
        assert!(std::error::Error::source(&error).is_some());
        let logged = Chain(&error).to_string();
        assert!(
            logged
                .starts_with("storage backend: insert into `t`: UNIQUE constraint failed: t.name"),
            "{logged}"
        );
        assert!(logged.contains("Error code 2067"), "{logged}");
    }

    #[test]
    fn a_method_names_itself_in_a_backend_failure_only() {
        let failed = StoreError::backend("SQLite statement", std::io::Error::other("gone"));
        assert_eq!(
            failed.during("accounts").to_string(),
            "storage backend: `accounts`: SQLite statement"
        );
        let conflict = StoreError::Conflict("account `alice`".into()).during("create_account");
        assert_eq!(conflict.to_string(), "account `alice` already exists");
    }
}
