//! Who a client is once authentication succeeded.

use std::time::SystemTime;

/// How a [`Principal`] was established. The session stage maps each kind to a virtual
/// cluster differently (a local token carries its vcluster; external ones are looked up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A gateway-issued service-account token presented as the SASL/PLAIN password.
    LocalToken,
    /// An OIDC access token presented with SASL/OAUTHBEARER.
    OAuth,
    /// The subject of a verified TLS client certificate, after the mapping rules.
    MtlsSubject,
    /// A SASL user whose credentials the upstream cluster checked (delegated PLAIN/SCRAM).
    Delegated,
}

/// An authenticated client identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
    /// The virtual cluster a local token names; only [`PrincipalKind::LocalToken`] sets it.
    pub vcluster_hint: Option<String>,
    /// When the credential stops being valid: the KIP-368 re-authentication deadline.
    pub expires_at: Option<SystemTime>,
    /// The gateway token's id (`jti`) for [`PrincipalKind::LocalToken`]: revoking it ends the
    /// connections it authenticated.
    pub token_id: Option<String>,
}

impl Principal {
    pub fn new(name: impl Into<String>, kind: PrincipalKind) -> Self {
        Principal {
            name: name.into(),
            kind,
            vcluster_hint: None,
            expires_at: None,
            token_id: None,
        }
    }

    /// Milliseconds until the credential expires, as KIP-368's `session_lifetime_ms` wants it
    /// (0 when there is no expiry, which Kafka reads as "no re-authentication required").
    pub fn session_lifetime_ms(&self, now: SystemTime) -> i64 {
        match self.expires_at {
            None => 0,
            Some(at) => match at.duration_since(now) {
                // Already expired: the smallest positive lifetime, so the client re-authenticates at once.
                Err(_) => 1,
                Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn session_lifetime() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut p = Principal::new("alice", PrincipalKind::OAuth);
        assert_eq!(p.session_lifetime_ms(now), 0);
        p.expires_at = Some(now + Duration::from_secs(5));
        assert_eq!(p.session_lifetime_ms(now), 5_000);
        p.expires_at = Some(now - Duration::from_secs(5));
        assert_eq!(p.session_lifetime_ms(now), 1);
    }
}
