//! Who a principal is to the gateway: which virtual cluster it lands in, and which local
//! tokens are revoked. Read through a snapshot the store's changes replace whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::tokens::{Revocations, TokenKey};
use gatehouse_auth::{Principal, PrincipalKind};

use crate::Gateway;

/// Principal-related state from the store.
#[derive(Debug, Default)]
pub struct Identity {
    /// External principal name (mTLS subject, OAuth subject, delegated user) → virtual cluster,
    /// from EXTERNAL GatewayServiceAccounts.
    pub external_names: HashMap<String, String>,
    /// Ids of revoked local tokens.
    pub revoked_tokens: HashSet<String>,
}

impl Revocations for Identity {
    fn is_revoked(&self, token_id: &str) -> bool {
        self.revoked_tokens.contains(token_id)
    }
}

/// Process-wide authentication settings.
#[derive(Default)]
pub struct AuthSettings {
    /// Verifies local service-account tokens (SASL/PLAIN); None refuses PLAIN.
    pub token_key: Option<Arc<TokenKey>>,
    /// Refuse principals no virtual cluster claims, instead of serving them passthrough.
    pub mandatory_virtual_cluster: bool,
    /// Upper bound of a SASL session for every route (a route's own bound may be smaller).
    pub max_session_lifetime: Option<Duration>,
}

/// The virtual cluster an authenticated principal lands in (None: passthrough).
///
/// A local token names its virtual cluster; an external principal is looked up among the
/// EXTERNAL service accounts. A route bound to a virtual cluster must agree with it.
pub(crate) fn resolve_virtual_cluster(
    gateway: &Gateway,
    principal: &Principal,
    route_vc: Option<&str>,
) -> Result<Option<String>, String> {
    let own = match principal.kind {
        PrincipalKind::LocalToken => principal.vcluster_hint.clone(),
        _ => gateway
            .identity()
            .external_names
            .get(&principal.name)
            .cloned(),
    };
    match (own, route_vc) {
        (Some(p), Some(r)) if p != r => Err(format!(
            "principal '{}' belongs to virtual cluster '{p}', but this route serves '{r}'",
            principal.name
        )),
        (Some(p), _) => Ok(Some(p)),
        (None, Some(r)) => Ok(Some(r.to_string())),
        (None, None) if gateway.auth.mandatory_virtual_cluster => Err(format!(
            "principal '{}' is not mapped to a virtual cluster, and this gateway requires one",
            principal.name
        )),
        (None, None) => Ok(None),
    }
}
