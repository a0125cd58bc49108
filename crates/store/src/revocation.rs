//! Revoked gateway tokens: ids (a token's `jti`) every gateway on the store refuses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::StoreError;

/// Longest token id accepted (gateway tokens use 36-character UUIDs).
pub const MAX_TOKEN_ID_LEN: usize = 128;
/// Longest revocation reason accepted.
pub const MAX_REASON_LEN: usize = 1000;
/// How long after its token expired a revocation is kept: gateways whose clocks lag the one
/// that prunes must still refuse the token until they see it as expired themselves.
pub const PRUNE_GRACE: Duration = Duration::from_secs(600);

/// One revocation. Times are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    pub id: String,
    pub revoked_at: SystemTime,
    /// The token's own expiry, when the revoker knew it; the row is pruned [`PRUNE_GRACE`]
    /// after it. `None`: kept until deleted by hand.
    pub expires_at: Option<SystemTime>,
    pub reason: Option<String>,
}

/// The result of [`crate::Store::revoke_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The revocation as stored (the earlier one when the token already was revoked).
    pub revocation: RevokedToken,
    /// False when the token already was revoked (nothing was written).
    pub newly_revoked: bool,
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn from_unix_secs(s: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s.max(0) as u64)
}

/// Checks a token id and reason before anything is written.
pub(crate) fn validate(id: &str, reason: Option<&str>) -> Result<(), StoreError> {
    let invalid = |field: &str, reason: String| StoreError::Invalid {
        field: field.into(),
        reason,
    };
    if id.is_empty() || id.len() > MAX_TOKEN_ID_LEN {
        return Err(invalid(
            "id",
            format!("a token id has 1 to {MAX_TOKEN_ID_LEN} characters"),
        ));
    }
    if !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "id",
            "a token id has only printable ASCII characters, no spaces".into(),
        ));
    }
    if let Some(r) = reason {
        if r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control) {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON_LEN} characters, no control characters"),
            ));
        }
    }
    Ok(())
}
