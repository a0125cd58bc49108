//! Which virtual cluster a connection is in.
//!
//! Today a route may name one (`routes[].virtualCluster`); without it a connection is in
//! `passthrough`. The authentication layer will add principal → virtual cluster on top of the
//! same [`Binding`]. A binding is checked against the catalog snapshot on every request, at
//! the cost of one pointer load while nothing changed: a virtual cluster deleted or re-prefixed
//! while its clients are connected ends their connections rather than serve them with stale
//! names.

use std::net::IpAddr;
use std::sync::Arc;

use gatehouse_auth::Principal;
use gatehouse_tenancy::acl::ANONYMOUS;
use gatehouse_tenancy::{Aliases, Catalog, Resolution, Tenant, TenantSession};

use crate::identity::resolve_virtual_cluster;
use crate::Gateway;

pub(crate) struct Binding {
    /// The route's domain: a tenant's home.
    domain: String,
    /// The domain of the broker this connection reaches, when it is another of the route's
    /// (a virtual broker port of a further domain).
    destination: Option<Arc<str>>,
    virtual_cluster: Option<String>,
    seen: Arc<Catalog>,
    /// Who the client is, to its virtual cluster's ACLs.
    client: Client,
    session: Option<TenantSession>,
    /// The tenant's view of `destination` (only its aliases there exist).
    further: Option<TenantSession>,
}

/// Why a connection cannot be served in its virtual cluster.
pub(crate) struct Unbound(pub String);

/// The client as ACLs see it: the user name it authenticated as ([`ANONYMOUS`] before or
/// without authentication) and the address it connects from.
#[derive(Clone)]
pub(crate) struct Client {
    pub principal: String,
    pub host: IpAddr,
    /// The gateway token it authenticated with, if it did with one.
    pub token_id: Option<String>,
}

impl Client {
    pub fn new(principal: Option<&Principal>, host: IpAddr) -> Self {
        Self {
            principal: principal.map_or(ANONYMOUS, |p| p.name.as_str()).to_string(),
            host,
            token_id: principal.and_then(|p| p.token_id.clone()),
        }
    }
}

impl Binding {
    /// Binds a new connection on a route.
    /// `destination` is the domain of the broker the connection reaches.
    pub fn new(
        gateway: &Gateway,
        virtual_cluster: Option<&str>,
        domain: &str,
        destination: &str,
        client: Client,
    ) -> Result<Self, Unbound> {
        let seen = gateway.catalog();
        let session = match virtual_cluster {
            None => None,
            Some(name) => resolve(gateway, &seen, name, domain, &client)?,
        };
        let destination: Option<Arc<str>> = (destination != domain).then(|| destination.into());
        let further = further_view(gateway, &session, &destination);
        Ok(Self {
            domain: domain.to_string(),
            destination,
            virtual_cluster: virtual_cluster.map(str::to_string),
            seen,
            client,
            session,
            further,
        })
    }

    /// Moves the connection to another virtual cluster (None: passthrough), as authentication
    /// decides.
    pub fn rebind(
        &mut self,
        gateway: &Gateway,
        virtual_cluster: Option<&str>,
        client: Client,
    ) -> Result<(), Unbound> {
        let destination = self
            .destination
            .as_deref()
            .unwrap_or(&self.domain)
            .to_string();
        let domain = self.domain.clone();
        *self = Self::new(gateway, virtual_cluster, &domain, &destination, client)?;
        Ok(())
    }

    /// Puts the connection in the virtual cluster an authenticated principal lands in, or
    /// says why it may not be served (the gate then fails the authentication).
    pub fn accept(
        &mut self,
        gateway: &Gateway,
        principal: &Principal,
        route_vc: Option<&str>,
    ) -> Result<(), String> {
        let vc = resolve_virtual_cluster(gateway, principal, route_vc)?;
        let client = Client::new(Some(principal), self.client.host);
        self.rebind(gateway, vc.as_deref(), client)
            .map_err(|Unbound(why)| why)
    }

    /// Whether the connection is in a tenant (not passthrough), without re-checking the catalog.
    pub fn current_session(&self) -> Result<Option<&TenantSession>, Unbound> {
        Ok(self.session.as_ref())
    }

    /// The tenant session for the next request, re-checked if the catalog changed.
    pub fn current(&mut self, gateway: &Gateway) -> Result<Option<&TenantSession>, Unbound> {
        let now = gateway.catalog();
        let changed = !Arc::ptr_eq(&now, &self.seen);
        // (The store's revocations arrive with its every change, before the catalog.)
        if let Some(id) = self.client.token_id.as_ref().filter(|_| changed) {
            if gateway.identity().revoked_tokens.contains(id) {
                return Err(Unbound(format!(
                    "the gateway token it authenticated with ({id}) was revoked"
                )));
            }
        }
        let Some(name) = &self.virtual_cluster else {
            self.seen = now;
            return Ok(None);
        };
        if changed {
            let fresh = resolve(gateway, &now, name, &self.domain, &self.client)?;
            // The same names (prefix) and every alias still there: the session goes on with
            // the fresh view, so alias topics added reach open connections with their next
            // request. An alias deleted or changed ends the connection instead: a broker's
            // fetch session would go on serving its partitions to requests that no longer
            // name them.
            let (same, why) = match (&fresh, &self.session) {
                (None, None) => (true, String::new()),
                (Some(a), Some(b)) if a.tenant().prefix != b.tenant().prefix => {
                    (false, "its prefix changed".to_string())
                }
                (Some(a), Some(b)) => match b
                    .tenant()
                    .aliases
                    .iter()
                    .find(|old| a.tenant().alias(&old.name) != Some(*old))
                {
                    Some(gone) => (
                        false,
                        format!("alias topic '{}' was deleted or changed", gone.name),
                    ),
                    None => match may_lose_access(b, a) {
                        true => (
                            false,
                            format!(
                                "the ACLs of User:{} changed and may refuse what it was allowed (reconnect to be served under the new ones)",
                                self.client.principal
                            ),
                        ),
                        false => (true, String::new()),
                    },
                },
                _ => (false, "it was deleted or replaced".to_string()),
            };
            if !same {
                return Err(Unbound(format!(
                    "virtual cluster '{name}' changed while the connection was open: {why}"
                )));
            }
            self.further = further_view(gateway, &fresh, &self.destination);
            self.session = fresh;
            self.seen = now;
        }
        Ok(self.session.as_ref())
    }

    /// The tenant's view of the further domain this connection reaches, if it reaches one
    /// (after [`Binding::current`] checked the catalog).
    pub fn further(&self) -> Option<&TenantSession> {
        self.further.as_ref()
    }
}

/// The tenant's view of the further domain a connection reaches (None at home, or outside
/// a virtual cluster).
fn further_view(
    gateway: &Gateway,
    session: &Option<TenantSession>,
    destination: &Option<Arc<str>>,
) -> Option<TenantSession> {
    let (session, domain) = (session.as_ref()?, destination.as_ref()?);
    Some(session.on_further_domain(domain.clone(), gateway.topic_ids(domain)))
}

/// Whether moving a session from `old` to `new` ACLs may take access away from its client:
/// a broker's fetch session would go on serving partitions to requests that no longer name
/// them, so such a connection ends rather than keep what it is no longer allowed.
fn may_lose_access(old: &TenantSession, new: &TenantSession) -> bool {
    match (old.client_acls(), new.client_acls()) {
        (_, None) => false,      // nothing is refused any more
        (None, Some(_)) => true, // ACLs enforced now, or no longer a super user
        (Some(old), Some(new)) => old.may_lose_access(new.acls()),
    }
}

fn resolve(
    gateway: &Gateway,
    catalog: &Catalog,
    name: &str,
    domain: &str,
    client: &Client,
) -> Result<Option<TenantSession>, Unbound> {
    match catalog.resolve(name) {
        Resolution::Passthrough => Ok(None),
        Resolution::Tenant(t) => {
            if let Some(home) = t.home_domain.as_deref().filter(|home| *home != domain) {
                return Err(Unbound(format!(
                    "virtual cluster '{name}' has its home on streaming domain '{home}' (spec.homeDomain), \
                     but this route's domain is '{domain}': connect through a route on '{home}'"
                )));
            }
            Ok(Some(
                TenantSession::new(
                    at_home(t, domain),
                    gateway.topic_ids(domain),
                    gateway.producer_ids(domain),
                )
                .for_client(&client.principal, client.host),
            ))
        }
        Resolution::Unknown => Err(Unbound(format!(
            "virtual cluster '{name}' does not exist (apply a VirtualCluster named '{name}')"
        ))),
    }
}

/// The tenant as seen from a route whose domain is `home`: aliases that name that domain
/// explicitly are its home aliases (a virtual cluster without `spec.homeDomain` has its home
/// wherever its route is).
fn at_home(tenant: Arc<Tenant>, home: &str) -> Arc<Tenant> {
    if !tenant
        .aliases
        .iter()
        .any(|a| a.domain.as_deref() == Some(home))
    {
        return tenant;
    }
    let aliases = tenant.aliases.iter().cloned().map(|mut a| {
        if a.domain.as_deref() == Some(home) {
            a.domain = None;
        }
        a
    });
    let normalized = Tenant::new(tenant.name.clone(), tenant.prefix.clone())
        .with_aliases(Aliases::new(aliases.collect::<Vec<_>>()))
        .with_home_domain(tenant.home_domain.clone());
    Arc::new(normalized)
}
