//! Answers with what may differ between two correct stores blanked, recorded in order.

use std::fmt::Debug;

use habitat_core::{Blake2bHash, ChannelName, OriginName, PackageTarget};
use habitat_depot_server::store::{
    Account, BundleImport, ChannelMembership, Identity, Invitation, LoginFlow, Member, Origin,
    OriginContents, OriginKey, Package, Paged, Role, SecretOriginKey, Session, StoreError,
    StoreResult, TokenRecord, TufChange, TufCollected, TufCurrent, TufIndexRow, TufKey,
    TufMetadataRow,
};
use time::OffsetDateTime;

/// What a value looks like with the parts that may differ between two correct stores blanked:
/// ids (PostgreSQL sequences skip the ids of rolled-back inserts) and "now" timestamps.
pub trait Normal {
    fn normal(self) -> Self;
}

macro_rules! plain {
    ($($ty:ty),*) => { $(impl Normal for $ty { fn normal(self) -> Self { self } })* };
}
plain!(
    (),
    bool,
    u64,
    String,
    OriginName,
    ChannelName,
    Role,
    Member,
    SecretOriginKey,
    OriginContents,
    BundleImport,
    Blake2bHash,
    u8,
    TufCollected,
    TufCurrent,
    TufIndexRow,
    TufKey,
    TufMetadataRow
);

impl Normal for TufChange {
    fn normal(self) -> Self {
        TufChange { id: 0, ..self }
    }
}

impl Normal for OffsetDateTime {
    fn normal(self) -> Self {
        let recent = (OffsetDateTime::now_utc() - self).abs() < time::Duration::hours(1);
        if recent {
            assert_eq!(self.nanosecond(), 0, "stored times are whole seconds");
            OffsetDateTime::UNIX_EPOCH
        } else {
            self
        }
    }
}

impl<T: Normal> Normal for Vec<T> {
    fn normal(self) -> Self {
        self.into_iter().map(Normal::normal).collect()
    }
}

impl<T: Normal> Normal for Option<T> {
    fn normal(self) -> Self {
        self.map(Normal::normal)
    }
}

impl<A: Normal, B: Normal> Normal for (A, B) {
    fn normal(self) -> Self {
        (self.0.normal(), self.1.normal())
    }
}

impl<A: Normal, B: Normal> Normal for Result<A, B> {
    fn normal(self) -> Self {
        self.map(Normal::normal).map_err(Normal::normal)
    }
}

impl<T: Normal> Normal for Paged<T> {
    fn normal(self) -> Self {
        Paged {
            items: self.items.normal(),
            total: self.total,
        }
    }
}

impl Normal for Account {
    fn normal(self) -> Self {
        Account {
            id: 0,
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for Identity {
    fn normal(self) -> Self {
        Identity {
            account_id: 0,
            created_at: self.created_at.normal(),
            last_sign_in_at: self.last_sign_in_at.normal(),
            ..self
        }
    }
}

impl Normal for Session {
    fn normal(self) -> Self {
        Session {
            id: 0,
            account_id: 0,
            created_at: self.created_at.normal(),
            last_seen_at: self.last_seen_at.normal(),
            expires_at: self.expires_at.normal(),
        }
    }
}

impl Normal for LoginFlow {
    fn normal(self) -> Self {
        LoginFlow {
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for TokenRecord {
    fn normal(self) -> Self {
        TokenRecord {
            id: 0,
            account_id: 0,
            created_at: self.created_at.normal(),
            last_used_at: self.last_used_at.normal(),
            ..self
        }
    }
}

impl Normal for Origin {
    fn normal(self) -> Self {
        Origin {
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for Invitation {
    fn normal(self) -> Self {
        Invitation {
            id: 0,
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for OriginKey {
    fn normal(self) -> Self {
        OriginKey {
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for Package {
    fn normal(self) -> Self {
        Package { id: 0, ..self }
    }
}

impl Normal for ChannelMembership {
    fn normal(self) -> Self {
        ChannelMembership {
            promoted_at: self.promoted_at.normal(),
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal
    for (
        i64,
        habitat_core::FullyQualifiedIdent,
        PackageTarget,
        Blake2bHash,
        u64,
    )
{
    fn normal(self) -> Self {
        (0, self.1, self.2, self.3, self.4)
    }
}

/// Backend errors word the database's own message; only their kind must agree.
impl Normal for StoreError {
    fn normal(self) -> Self {
        match self {
            StoreError::Backend { .. } | StoreError::Invalid(_) => {
                StoreError::Invalid(String::new())
            }
            other => other,
        }
    }
}

/// Every answer a store gave, in order, normalized.
#[derive(Default)]
pub struct Transcript(pub Vec<String>);

impl Transcript {
    /// Records `result` under `label`.
    pub fn record<T: Normal + Clone + Debug>(&mut self, label: &str, result: StoreResult<T>) {
        let _ = self.keep(label, result);
    }

    /// Records `result` under `label` and hands it back.
    pub fn keep<T: Normal + Clone + Debug>(
        &mut self,
        label: &str,
        result: StoreResult<T>,
    ) -> StoreResult<T> {
        let shown = match &result {
            Ok(value) => format!("Ok({:?})", value.clone().normal()),
            Err(e) => format!("Err({:?})", clone_error(e).normal()),
        };
        self.0.push(format!("{label}: {shown}"));
        result
    }

    /// Records a result that must be `Ok`, and returns its value.
    #[track_caller]
    pub fn ok<T: Normal + Clone + Debug>(&mut self, label: &str, result: StoreResult<T>) -> T {
        self.keep(label, result)
            .unwrap_or_else(|e| panic!("{label}: {e:?}"))
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(s) => StoreError::Conflict(s.clone()),
        StoreError::NotFound(s) => StoreError::NotFound(s.clone()),
        StoreError::Refused(s) => StoreError::Refused(s.clone()),
        other => StoreError::Invalid(other.to_string()),
    }
}
