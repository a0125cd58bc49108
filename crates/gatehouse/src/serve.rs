//! `gatehouse serve`: the store, the data plane, the admin API and readiness wired together,
//! and the drain that ends them.

use std::collections::BTreeSet;
use std::sync::Arc;

use gatehouse_config::GatewayConfig;
use gatehouse_proxy::{ConnectionLimits, Gateway};

/// Runs the gateway until SIGTERM (or SIGINT, or a drain call), then drains it.
pub fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let ready = gatehouse_admin::Readiness::default();
        let store = gatehouse_store::Store::open_configured(&config.store.url, configured(&config))
            .await
            .map_err(|e| anyhow::anyhow!("store: {e}"))?;
        let _refresher = store.spawn_refresher();
        match config.auth.token_key_source {
            Some(source) => tracing::info!(?source, "gateway token key configured"),
            None => tracing::info!(
                "no gateway token key: tokens cannot be issued ({})",
                gatehouse_config::TOKEN_KEY_HELP
            ),
        }
        // Tenant resources for the data plane: every change (through this process's admin API,
        // or through another gateway sharing the database) arrives here as a new immutable
        // snapshot. Clone this receiver into whatever needs virtual clusters and service
        // accounts; `borrow()` is cheap and holds no lock across an `.await` if dropped first.
        let virtual_clusters: tokio::sync::watch::Receiver<Arc<gatehouse_store::Snapshot>> =
            store.subscribe();
        let limits = connection_limits(&config.gateway);
        let auth = auth_settings(&config)?;
        let partner_routes = partner_routes(&config);
        let gateway = Gateway::with_security(config.topology, limits, config.security, auth);
        gateway
            .keep_producer_ids_in(&config.store.data_dir)
            .map_err(|e| anyhow::anyhow!("producer id journal (store.dataDir): {e}"))?;
        gateway.set_catalog(catalog(&virtual_clusters.borrow()));
        gateway.set_identity(identity(&virtual_clusters.borrow()));
        gateway.keep_acls_in(Arc::new(crate::acls::StoreAcls(store.clone())));
        tokio::spawn(follow_store(virtual_clusters, gateway.clone()));
        gatehouse_routing::health::spawn_probes(
            &gateway.topology(),
            gatehouse_routing::health::DEFAULT_PROBE_INTERVAL,
        );
        add_readiness_checks(&ready, &store, &gateway);
        if let Some(admin) = &config.admin {
            serve_admin_api(admin, &ready, &store, &config.auth, partner_routes).await?;
        }
        let listeners = gateway.bind().await?;
        ready.set_ready();
        for route in gateway.topology().routes.values() {
            // One line per route a script can read: where clients bootstrap.
            println!(
                "gatehouse: route {} bootstrap {}",
                route.name, route.endpoint
            );
        }
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("signal received"),
            _ = ready.drain_requested() => tracing::info!("drain requested through the admin API"),
        }
        ready.request_drain();
        drain(&gateway, listeners, &config.gateway.drain).await;
        Ok(())
    })
}

/// What `/health/ready` reports besides the listeners: each streaming domain and the store.
/// Both are reported as degraded when they fail, not as not-ready: an upstream outage hits
/// every gateway node at once, and a load balancer that took them all out would turn it into
/// refused connections for every route, while the store's failure leaves the data plane
/// serving its last snapshot.
fn add_readiness_checks(
    ready: &gatehouse_admin::Readiness,
    store: &gatehouse_store::Store,
    gateway: &Arc<Gateway>,
) {
    use gatehouse_admin::Check;
    let store = store.clone();
    ready.add_check("store", move || match store.availability() {
        Ok(()) => Check::Ok("available".into()),
        Err(why) => Check::Degraded(why),
    });
    for name in gateway.topology().domains.keys() {
        let (gateway, domain) = (Arc::downgrade(gateway), name.clone());
        ready.add_check(format!("streamingDomain {name}"), move || {
            let Some(gateway) = gateway.upgrade() else {
                return Check::Failing("the gateway is stopping".into());
            };
            match gateway
                .topology()
                .domains
                .get(&domain)
                .map(|d| d.reachability())
            {
                Some(Ok(())) => Check::Ok("reachable".into()),
                Some(Err(why)) => Check::Degraded(why),
                None => Check::Degraded("no longer configured".into()),
            }
        });
    }
}

/// Binds the admin API (health, metrics, the v2 resource API).
async fn serve_admin_api(
    admin: &gatehouse_config::AdminSettings,
    ready: &gatehouse_admin::Readiness,
    store: &gatehouse_store::Store,
    auth: &gatehouse_config::AuthSettings,
    partner_routes: gatehouse_admin::PartnerRoutes,
) -> anyhow::Result<()> {
    if admin.users.is_empty() {
        tracing::warn!(
            "the admin API has no users: /gateway/v2 refuses every call (set admin.users, or {} for a user 'admin')",
            gatehouse_config::ADMIN_PASSWORD_ENV
        );
    }
    let api = gatehouse_admin::V2 {
        store: store.clone(),
        users: admin
            .users
            .iter()
            .map(|u| gatehouse_admin::User {
                username: u.username.clone(),
                password: u.password.clone(),
            })
            .collect(),
        token_key: auth.token_key.clone(),
        partner_routes,
    };
    let options = gatehouse_admin::AdminOptions {
        tls: admin.tls.clone(),
        header_timeout: admin.header_timeout,
        body_timeout: admin.body_timeout,
        metrics_auth: admin.metrics_auth,
        login_failure_max_delay: admin.login_failure_max_delay,
    };
    gatehouse_admin::serve_with(admin.listen, ready.clone(), Some(api), options).await?;
    Ok(())
}

/// What the admin API needs of each route for partner zones: where clients bootstrap and how
/// the route authenticates them (for client.properties and to check a zone's route).
fn partner_routes(config: &GatewayConfig) -> gatehouse_admin::PartnerRoutes {
    use gatehouse_auth::listener::{ClientAuth, Sasl, SecurityProtocol};
    use gatehouse_auth::sasl::Mechanism;
    let routes = config.topology.routes.values().map(|route| {
        let security = config.security.get(&route.name);
        let protocol = security.map_or(SecurityProtocol::Plaintext, |s| s.protocol);
        let local = match security.and_then(|s| s.sasl.as_ref()) {
            Some(Sasl::Local(l)) => Some(l),
            _ => None,
        };
        let has = |m: Mechanism| local.is_some_and(|l| l.mechanisms.contains(&m));
        let info = gatehouse_admin::PartnerRoute {
            endpoint: route.endpoint.to_string(),
            protocol: protocol.name().into(),
            tls: protocol.uses_tls(),
            sasl_plain: has(Mechanism::Plain),
            sasl_oauthbearer: has(Mechanism::OAuthBearer),
            client_certificates: security
                .and_then(|s| s.tls.as_ref())
                .is_some_and(|t| t.client_auth != ClientAuth::None),
            virtual_cluster: route.virtual_cluster.clone(),
        };
        (route.name.clone(), info)
    });
    Arc::new(routes.collect())
}

/// Stops accepting, then lets clients go listener by listener once every answer they are
/// owed has reached them (see gatehouse_proxy's drain). A second signal ends it at once.
async fn drain(
    gateway: &Gateway,
    listeners: Vec<tokio::task::JoinHandle<()>>,
    settings: &gatehouse_config::DrainSettings,
) {
    tracing::info!("shutting down: not ready, no new connections; draining");
    for listener in &listeners {
        listener.abort();
    }
    tokio::select! {
        report = gateway.drain(settings.timeout, settings.step) => {
            if report.cut > 0 {
                tracing::warn!(connections = report.connections, cut = report.cut,
                    "drain timed out (gateway.drainTimeoutMs): connections cut with answers owed");
            } else {
                tracing::info!(connections = report.connections, "drained");
            }
        }
        _ = shutdown_signal() => tracing::warn!("second signal: exiting without draining"),
    }
}

/// What the data plane needs of the `gateway` block.
fn connection_limits(g: &gatehouse_config::GatewaySettings) -> ConnectionLimits {
    let c = &g.client;
    ConnectionLimits {
        max_frame_bytes: g.max_frame_bytes,
        max_unauthenticated_frame_bytes: c.max_unauthenticated_frame_bytes,
        max_buffered_bytes: c.max_buffered_bytes,
        max_in_flight_requests: g.max_in_flight_requests,
        splice_forwarding: g.splice_forwarding,
        deadlines: gatehouse_proxy::DeadlineLimits {
            connections_max_idle: c.connections_max_idle,
            authentication_timeout: c.authentication_timeout,
            frame_progress_timeout: c.frame_progress_timeout,
            frame_progress_min_bytes: c.frame_progress_min_bytes,
        },
        caps: gatehouse_proxy::CapLimits {
            max_connections: c.max_connections,
            max_connections_per_ip: c.max_connections_per_ip,
            max_connection_creation_rate_per_ip: c.max_connection_creation_rate_per_ip,
            route_max_connections: c.route_max_connections.clone(),
        },
    }
}

/// What the store checks writes against: the virtual clusters the configuration's routes bind
/// (it refuses to delete them while the configuration names them) and the streaming domains a
/// home domain or an alias topic may name.
fn configured(config: &GatewayConfig) -> gatehouse_store::Configured {
    gatehouse_store::Configured {
        virtual_clusters: config
            .topology
            .routes
            .values()
            .filter_map(|r| r.virtual_cluster.clone())
            .collect(),
        streaming_domains: Some(
            config
                .topology
                .domains
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>(),
        ),
    }
}

/// The data plane's view of the tenant resources: each virtual cluster's prefix, declared home
/// domain, alias topics and (with `aclEnabled`) ACLs.
fn catalog(snapshot: &gatehouse_store::Snapshot) -> gatehouse_tenancy::Catalog {
    use gatehouse_tenancy::aliases::{Access, Alias, Aliases};
    gatehouse_tenancy::Catalog::from_tenants(snapshot.virtual_clusters.values().map(|vc| {
        let home = vc.home_domain.as_deref();
        let aliases = snapshot.alias_topics_in(&vc.name).map(|a| Alias {
            name: a.name.clone(),
            physical: a.physical_name.clone(),
            domain: a.off_home_domain(home).map(str::to_string),
            access: match a.access {
                gatehouse_store::AliasAccess::Read => Access::Read,
                gatehouse_store::AliasAccess::Write => Access::Write,
            },
        });
        gatehouse_tenancy::Tenant::new(vc.name.clone(), vc.prefix.clone())
            .with_home_domain(vc.home_domain.clone())
            .with_aliases(Aliases::new(aliases))
            .with_acls(crate::acls::tenant_acls(vc))
    }))
}

/// Principal mappings (EXTERNAL service accounts) and revoked tokens, for authentication.
fn identity(snapshot: &gatehouse_store::Snapshot) -> gatehouse_proxy::Identity {
    let mut identity = gatehouse_proxy::Identity {
        revoked_tokens: snapshot.revoked_tokens.keys().cloned().collect(),
        ..Default::default()
    };
    for account in snapshot.service_accounts.values() {
        for name in &account.external_names {
            identity
                .external_names
                .insert(name.clone(), account.vcluster.clone());
        }
    }
    identity
}

/// The token key and the rules that apply to every route. A route that authenticates SASL/PLAIN
/// itself needs the key: without one the gateway refuses to start rather than accept nothing
/// (or worse, a default key).
fn auth_settings(config: &GatewayConfig) -> anyhow::Result<gatehouse_proxy::AuthSettings> {
    use gatehouse_auth::listener::Sasl;
    use gatehouse_auth::sasl::Mechanism;
    let token_key = config.auth.token_key.clone();
    for (route, security) in &config.security {
        if let Some(Sasl::Local(local)) = &security.sasl {
            if local.mechanisms.contains(&Mechanism::Plain) && token_key.is_none() {
                anyhow::bail!(
                    "route '{route}' authenticates SASL/PLAIN with gateway tokens, but no token key \
                     is configured ({})",
                    gatehouse_config::TOKEN_KEY_HELP
                );
            }
        }
    }
    Ok(gatehouse_proxy::AuthSettings {
        token_key,
        mandatory_virtual_cluster: config.auth.mandatory_virtual_cluster,
        max_session_lifetime: config.auth.max_session_lifetime,
    })
}

/// Hands every new snapshot of tenant resources to the data plane (connections check their
/// virtual cluster against it on their next request), with one log line.
async fn follow_store(
    mut snapshots: tokio::sync::watch::Receiver<Arc<gatehouse_store::Snapshot>>,
    gateway: Arc<Gateway>,
) {
    while snapshots.changed().await.is_ok() {
        let (revision, vclusters, accounts, aliases) = {
            let s = snapshots.borrow_and_update();
            // Identity first: the new catalog wakes open connections, which then see the
            // revocations too.
            gateway.set_identity(identity(&s));
            gateway.set_catalog(catalog(&s));
            (
                s.revision,
                s.virtual_clusters.len(),
                s.service_accounts.len(),
                s.alias_topics.len(),
            )
        };
        tracing::info!(
            revision,
            virtual_clusters = vclusters,
            service_accounts = accounts,
            alias_topics = aliases,
            "tenant resources changed"
        );
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_tenancy::{Access, Resolution};
    use serde_json::json;

    fn resource(doc: serde_json::Value) -> gatehouse_store::Resource {
        gatehouse_store::Resource::from_document(&doc).unwrap()
    }

    fn alias(name: &str, physical: &str, spec: serde_json::Value) -> gatehouse_store::Resource {
        let mut spec = spec;
        spec["physicalName"] = json!(physical);
        resource(json!({"apiVersion": "gateway/v2", "kind": "AliasTopic",
            "metadata": {"name": name, "vCluster": "partner-a"}, "spec": spec}))
    }

    /// The data plane gets each alias under the tenant's name, with no domain for the home
    /// domain (unset, or naming the declared home) and the domain otherwise.
    #[test]
    fn the_catalog_carries_home_domains_and_aliases() {
        let snapshot = gatehouse_store::Snapshot::from_resources(
            1,
            [
                resource(json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                    "metadata": {"name": "partner-a"}, "spec": {"homeDomain": "d1"}})),
                resource(json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                    "metadata": {"name": "team-b"}})),
                alias("orders", "sales.orders", json!({})),
                alias("mirror", "sales.mirror", json!({"physicalCluster": "d1"})),
                alias("returns", "returns", json!({"physicalCluster": "d2"})),
                alias("feedback", "partner-feedback", json!({"access": "WRITE"})),
            ],
        )
        .unwrap();
        let catalog = catalog(&snapshot);
        let Resolution::Tenant(t) = catalog.resolve("partner-a") else {
            panic!("partner-a is not a tenant");
        };
        assert_eq!(t.prefix, "partner-a.");
        assert_eq!(t.home_domain.as_deref(), Some("d1"));
        assert_eq!(t.aliases.len(), 4);
        let orders = t.aliases.get("orders").unwrap();
        assert_eq!(
            (
                orders.physical.as_str(),
                orders.domain.as_deref(),
                orders.access
            ),
            ("sales.orders", None, Access::Read)
        );
        assert_eq!(t.aliases.get("mirror").unwrap().domain, None);
        assert_eq!(
            t.aliases.get("returns").unwrap().domain.as_deref(),
            Some("d2")
        );
        assert_eq!(t.aliases.name_of(Some("d2"), "returns"), Some("returns"));
        assert_eq!(t.aliases.get("feedback").unwrap().access, Access::Write);
        let Resolution::Tenant(b) = catalog.resolve("team-b") else {
            panic!("team-b is not a tenant");
        };
        assert!(b.aliases.is_empty() && b.home_domain.is_none());
        assert!(matches!(
            catalog.resolve("passthrough"),
            Resolution::Passthrough
        ));
        assert!(t.acls.is_none() && b.acls.is_none(), "aclEnabled is false");
    }

    /// A virtual cluster with aclEnabled gives its tenant ACLs that decide as its entries say;
    /// without aclEnabled its entries are stored but not enforced.
    #[test]
    fn the_catalog_carries_acls_when_enabled() {
        use gatehouse_tenancy::acl::{Operation::*, ResourceType::*};
        let acl = |kind: &str, name: &str, pattern: &str, principal: &str, op: &str, perm: &str| {
            json!({"resourcePattern": {"resourceType": kind, "name": name, "patternType": pattern},
                   "principal": principal, "operation": op, "permissionType": perm})
        };
        let acls = json!([
            acl("TOPIC", "orders", "LITERAL", "User:alice", "READ", "ALLOW"),
            acl("TOPIC", "sales-", "PREFIXED", "User:*", "ALL", "ALLOW"),
            acl("TOPIC", "sales-secret", "LITERAL", "User:bob", "READ", "DENY"),
            acl("GROUP", "alice-app", "LITERAL", "User:alice", "READ", "ALLOW"),
            {"resourcePattern": {"resourceType": "TOPIC", "name": "returns"},
             "principal": "User:carol", "host": "10.0.0.9", "operation": "WRITE",
             "permissionType": "ALLOW"},
        ]);
        let snapshot = gatehouse_store::Snapshot::from_resources(
            1,
            [
                resource(json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                    "metadata": {"name": "partner-a"},
                    "spec": {"aclEnabled": true, "superUsers": ["boss"], "acls": acls}})),
                resource(json!({"apiVersion": "gateway/v2", "kind": "VirtualCluster",
                    "metadata": {"name": "team-b"}, "spec": {"acls": acls}})),
            ],
        )
        .unwrap();
        let catalog = catalog(&snapshot);
        let Resolution::Tenant(t) = catalog.resolve("partner-a") else {
            panic!("partner-a is not a tenant");
        };
        let a = t.acls.as_ref().expect("aclEnabled: the tenant has ACLs");
        assert_eq!(a.entries().len(), 5);
        let here: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let may = |who: &str, op, rt, name: &str| a.authorize(who, here, op, rt, name);
        assert!(may("alice", Read, Topic, "orders"));
        assert!(a.may_describe_topic("alice", here, "orders"));
        assert!(!may("alice", Write, Topic, "orders"));
        assert!(!may("alice", Read, Topic, "returns"));
        assert!(may("bob", Write, Topic, "sales-eu"));
        assert!(may("bob", Read, Topic, "sales-eu"));
        assert!(!may("bob", Read, Topic, "sales-secret"), "DENY beats ALLOW");
        assert!(may("alice", Read, Topic, "sales-secret"));
        assert!(may("alice", Read, Group, "alice-app"));
        assert!(!may("bob", Read, Group, "alice-app"));
        assert!(!may("carol", Write, Topic, "returns"), "another host");
        assert!(a.authorize(
            "carol",
            "10.0.0.9".parse().unwrap(),
            Write,
            Topic,
            "returns"
        ));
        assert!(may("boss", Alter, Cluster, "kafka-cluster"), "a super user");
        assert!(!may("alice", Alter, Cluster, "kafka-cluster"));
        let Resolution::Tenant(b) = catalog.resolve("team-b") else {
            panic!("team-b is not a tenant");
        };
        assert!(
            b.acls.is_none(),
            "stored, not enforced: aclEnabled is false"
        );
    }
}
