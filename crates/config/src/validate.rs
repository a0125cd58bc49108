//! From the file as written to a topology that cannot be inconsistent.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_routing::tls::UpstreamTlsSettings;
use gatehouse_routing::upstream::{GatewayLogin, UpstreamCluster};
use gatehouse_routing::{
    BootstrapServer, DomainRegistry, HostPort, NodeIdRange, StreamingDomain, Target, Topology,
};

use gatehouse_auth::listener::{ClientAuth, ServerTls};
use gatehouse_auth::mtls::PrincipalMapper;

use crate::raw::{RawAdmin, RawConfig, RawDomain, RawStore};
use crate::{
    AdminSettings, AdminUser, ConfigError, GatewayConfig, StoreSettings, ADMIN_PASSWORD_ENV,
    DATA_DIR_ENV, DEFAULT_DATA_DIR,
};

pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub base: &'a Path,
}

impl Ctx<'_> {
    pub(crate) fn err(&self, path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// `registry` holds what earlier topologies of this process learned about each upstream; the
/// new topology's upstreams take their state from it.
pub fn validate(
    raw: RawConfig,
    file: &str,
    base: &Path,
    registry: &Arc<DomainRegistry>,
) -> Result<GatewayConfig, ConfigError> {
    let ctx = Ctx { file, base };
    let mut gateway =
        crate::limits::build_gateway(&raw.gateway, &|path, reason| ctx.err(path, reason))?;

    let admin = match &raw.admin {
        Some(a) => Some(build_admin(&ctx, a)?),
        None => None,
    };
    let store = build_store(&ctx, raw.store.as_ref())?;
    let auth = crate::auth::build(
        raw.auth.as_ref(),
        file,
        &|name| std::env::var(name).ok(),
        &|path, value| from_env(&ctx, path, value),
    )?;

    if raw.streaming_domains.is_empty() {
        return Err(ctx.err(
            "streamingDomains",
            "at least one streaming domain is required",
        ));
    }
    if raw.routes.is_empty() {
        return Err(ctx.err("routes", "at least one route is required"));
    }
    let mut domains = BTreeMap::new();
    for (i, d) in raw.streaming_domains.iter().enumerate() {
        let domain = build_domain(
            &ctx,
            &format!("streamingDomains[{i}]"),
            d,
            (
                gateway.upstream_connect_timeout,
                gateway.upstream_request_timeout,
            ),
            registry,
        )?;
        if domains.insert(d.name.clone(), Arc::new(domain)).is_some() {
            return Err(ctx.err(
                format!("streamingDomains[{i}].name"),
                format!("duplicate streaming domain '{}'", d.name),
            ));
        }
    }

    let mut routes = BTreeMap::new();
    let mut security = BTreeMap::new();
    let mut ports = PortBook::default();
    if let Some(a) = &admin {
        ports.claim(&ctx, "admin.listen", a.listen, "the admin API".into())?;
    }
    for (i, r) in raw.routes.iter().enumerate() {
        let at = format!("routes[{i}]");
        let route = crate::routes::build_route(&ctx, &at, r, &domains)?;
        let sec =
            crate::security::build_security(r.security.as_ref(), ctx.base, &|field, reason| {
                ctx.err(format!("{at}.security.{field}"), reason)
            })?;
        security.insert(r.name.clone(), Arc::new(sec));
        match r.max_connections {
            None => {}
            Some(0) => return Err(ctx.err(format!("{at}.maxConnections"), "must be positive")),
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                gateway
                    .client
                    .route_max_connections
                    .insert(r.name.clone(), n);
            }
        }
        for (addr, target) in route.brokers.listeners(route.bind) {
            let what = match target {
                Target::Bootstrap => format!("the bootstrap port of route '{}'", route.name),
                Target::Node(id) => format!("the port of node {id} on route '{}'", route.name),
            };
            ports.claim(&ctx, &format!("{at}.endpoint"), addr, what)?;
        }
        if routes.insert(r.name.clone(), Arc::new(route)).is_some() {
            return Err(ctx.err(
                format!("{at}.name"),
                format!("duplicate route '{}'", r.name),
            ));
        }
    }
    // What this configuration no longer names is forgotten (a removed or renamed listener).
    registry.retain(|domain, listener| {
        domains
            .get(domain)
            .is_some_and(|d| d.bootstrap_servers.contains_key(listener))
    });
    Ok(GatewayConfig {
        gateway,
        admin,
        store,
        auth,
        topology: Topology { domains, routes },
        security,
        domain_state: registry.clone(),
    })
}

fn build_admin(ctx: &Ctx, a: &RawAdmin) -> Result<AdminSettings, ConfigError> {
    let listen = a.listen.parse().map_err(|_| {
        ctx.err(
            "admin.listen",
            format!("'{}' is not an ip:port socket address", a.listen),
        )
    })?;
    let mut users: Vec<AdminUser> = Vec::new();
    for (i, u) in a.users.iter().enumerate() {
        let at = format!("admin.users[{i}]");
        non_empty(ctx, &format!("{at}.username"), &u.username)?;
        if u.username.contains(':') {
            return Err(ctx.err(
                format!("{at}.username"),
                "must not contain ':' (HTTP basic auth separates user and password with it)",
            ));
        }
        if users.iter().any(|o| o.username == u.username) {
            return Err(ctx.err(
                format!("{at}.username"),
                format!("duplicate user '{}'", u.username),
            ));
        }
        let password = from_env(ctx, &format!("{at}.password"), &u.password)?;
        non_empty(ctx, &format!("{at}.password"), &password)?;
        users.push(AdminUser {
            username: u.username.clone(),
            password,
        });
    }
    if users.is_empty() {
        if let Ok(password) = std::env::var(ADMIN_PASSWORD_ENV) {
            if !password.is_empty() {
                users.push(AdminUser {
                    username: "admin".into(),
                    password,
                });
            }
        }
    }
    let ms = |field: &str, value: Option<u64>, default: u64, max: u64| {
        let v = value.unwrap_or(default);
        if (1..=max).contains(&v) {
            Ok(Duration::from_millis(v))
        } else {
            Err(ctx.err(
                format!("admin.{field}"),
                format!("must be 1 to {max} (milliseconds; default {default})"),
            ))
        }
    };
    let header_timeout = ms("headerTimeoutMs", a.header_timeout_ms, 10_000, 600_000)?;
    let body_timeout = ms("bodyTimeoutMs", a.body_timeout_ms, 30_000, 3_600_000)?;
    let login_failure_max_delay = ms(
        "loginFailureMaxDelayMs",
        a.login_failure_max_delay_ms,
        5_000,
        60_000,
    )?;
    let metrics_auth = a.metrics_auth.unwrap_or(false);
    if metrics_auth && users.is_empty() {
        return Err(ctx.err(
            "admin.metricsAuth",
            format!("true needs an admin user to log in with: list admin.users, or set {ADMIN_PASSWORD_ENV}"),
        ));
    }
    let tls = match &a.tls {
        None => None,
        Some(t) => {
            let client_auth = match t.client_auth.as_deref().unwrap_or("none") {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                other => {
                    return Err(ctx.err(
                        "admin.tls.clientAuth",
                        format!("'{other}' is not one of none, requested, required"),
                    ))
                }
            };
            let ca = t.ca_file.as_ref().map(|f| ctx.base.join(f));
            let built = ServerTls::build(
                &ctx.base.join(&t.cert_file),
                &ctx.base.join(&t.key_file),
                client_auth,
                ca.as_deref(),
                PrincipalMapper::default_rules(),
            )
            .map_err(|e| ctx.err(format!("admin.tls.{}", e.field), e.reason))?;
            Some(built.config)
        }
    };
    Ok(AdminSettings {
        listen,
        users,
        tls,
        header_timeout,
        body_timeout,
        metrics_auth,
        login_failure_max_delay,
    })
}

/// `${NAME}` is the value of environment variable NAME (an error naming `path` if it is unset);
/// anything else is taken as written.
fn from_env(ctx: &Ctx, path: &str, value: &str) -> Result<String, ConfigError> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(name) => std::env::var(name)
            .map_err(|_| ctx.err(path, format!("environment variable {name} is not set"))),
        None => Ok(value.to_string()),
    }
}

fn build_store(ctx: &Ctx, s: Option<&RawStore>) -> Result<StoreSettings, ConfigError> {
    let data_dir = match s.and_then(|s| s.data_dir.as_deref()) {
        Some(d) => {
            let d = from_env(ctx, "store.dataDir", d)?;
            non_empty(ctx, "store.dataDir", &d)?;
            ctx.base.join(d)
        }
        None => std::env::var_os(DATA_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(Into::into)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
    };
    let url = match s.and_then(|s| s.url.as_deref()) {
        Some(u) => {
            let u = from_env(ctx, "store.url", u)?;
            let known = u.starts_with("sqlite:")
                || u.starts_with("postgres://")
                || u.starts_with("postgresql://");
            if !known {
                let scheme = u.split(':').next().unwrap_or("");
                return Err(ctx.err(
                    "store.url",
                    format!(
                        "unsupported scheme '{scheme}' (expected sqlite://PATH or postgres://...)"
                    ),
                ));
            }
            u
        }
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("gatehouse.db").display()
        ),
    };
    Ok(StoreSettings { url, data_dir })
}

/// The gateway's SASL login to an upstream listener.
fn upstream_credentials(
    ctx: &Ctx,
    at: &str,
    raw: &crate::raw::RawUpstreamSasl,
) -> Result<GatewayLogin, ConfigError> {
    use gatehouse_auth::client_credentials::{ClientCredentials, TokenSource};
    use gatehouse_auth::sasl::Secret;
    use gatehouse_auth::upstream_sasl::{ScramHash, UpstreamCredentials};
    let required = |field: &str, value: &Option<String>| -> Result<String, ConfigError> {
        let path = format!("{at}.{field}");
        let v = value
            .as_deref()
            .ok_or_else(|| ctx.err(&path, format!("required for {}", raw.mechanism)))?;
        non_empty(ctx, &path, v)?;
        from_env(ctx, &path, v)
    };
    let password_login = |hash: Option<ScramHash>| -> Result<GatewayLogin, ConfigError> {
        let username = required("username", &raw.username)?;
        let password = Secret::new(required("password", &raw.password)?);
        Ok(GatewayLogin::Password(match hash {
            None => UpstreamCredentials::Plain { username, password },
            Some(hash) => UpstreamCredentials::Scram {
                hash,
                username,
                password,
                token_auth: false,
            },
        }))
    };
    match raw.mechanism.as_str() {
        "PLAIN" => password_login(None),
        "SCRAM-SHA-256" => password_login(Some(ScramHash::Sha256)),
        "SCRAM-SHA-512" => password_login(Some(ScramHash::Sha512)),
        "OAUTHBEARER" => {
            let credentials = ClientCredentials {
                token_endpoint: required("tokenEndpoint", &raw.token_endpoint)?,
                client_id: required("clientId", &raw.client_id)?,
                client_secret: Secret::new(required("clientSecret", &raw.client_secret)?),
                scope: raw.scope.clone(),
            };
            let source = TokenSource::new(credentials)
                .map_err(|e| ctx.err(format!("{at}.tokenEndpoint"), e.to_string()))?;
            Ok(GatewayLogin::OAuthBearer(source))
        }
        other => Err(ctx.err(
            format!("{at}.mechanism"),
            format!("'{other}' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
        )),
    }
}

pub(crate) fn non_empty(ctx: &Ctx, path: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ctx.err(path, "must not be empty"));
    }
    Ok(())
}

fn build_domain(
    ctx: &Ctx,
    at: &str,
    d: &RawDomain,
    (timeout, request_timeout): (Duration, Duration),
    registry: &DomainRegistry,
) -> Result<StreamingDomain, ConfigError> {
    non_empty(ctx, &format!("{at}.name"), &d.name)?;
    if d.kind != "kafka" {
        return Err(ctx.err(
            format!("{at}.type"),
            format!("unknown type '{}' (only 'kafka' exists)", d.kind),
        ));
    }
    let k = &d.kafka_cluster;
    if k.bootstrap_servers.is_empty() {
        return Err(ctx.err(
            format!("{at}.kafkaCluster.bootstrapServers"),
            "at least one bootstrap server is required",
        ));
    }
    let mut bootstrap_servers = BTreeMap::new();
    for (j, b) in k.bootstrap_servers.iter().enumerate() {
        let bat = format!("{at}.kafkaCluster.bootstrapServers[{j}]");
        non_empty(ctx, &format!("{bat}.id"), &b.id)?;
        let endpoint =
            HostPort::parse(&b.endpoint).map_err(|e| ctx.err(format!("{bat}.endpoint"), e))?;
        let tls = match &b.ssl {
            None => None,
            Some(s) => {
                let resolve = |p: &Option<String>| p.as_ref().map(|p| ctx.base.join(p));
                let settings = UpstreamTlsSettings {
                    ca_file: resolve(&s.ca_file),
                    cert_file: resolve(&s.cert_file),
                    key_file: resolve(&s.key_file),
                };
                Some(
                    settings
                        .build()
                        .map_err(|e| ctx.err(format!("{bat}.ssl.{}", e.field), e.reason))?,
                )
            }
        };
        let state = registry.state(&d.name, &b.id, &endpoint);
        let mut upstream =
            UpstreamCluster::new(d.name.clone(), b.id.clone(), endpoint, tls, timeout)
                .with_request_timeout(request_timeout)
                .with_state(state);
        if let Some(sasl) = &b.sasl {
            upstream = upstream.with_sasl(upstream_credentials(ctx, &format!("{bat}.sasl"), sasl)?);
        }
        let server = BootstrapServer {
            id: b.id.clone(),
            upstream: Arc::new(upstream),
        };
        if bootstrap_servers.insert(b.id.clone(), server).is_some() {
            return Err(ctx.err(
                format!("{bat}.id"),
                format!("duplicate bootstrap server id '{}'", b.id),
            ));
        }
    }
    if k.node_id_ranges.is_empty() {
        return Err(ctx.err(
            format!("{at}.kafkaCluster.nodeIdRanges"),
            "at least one node id range is required",
        ));
    }
    let mut node_ids: Vec<NodeIdRange> = Vec::new();
    for (j, r) in k.node_id_ranges.iter().enumerate() {
        let rat = format!("{at}.kafkaCluster.nodeIdRanges[{j}]");
        non_empty(ctx, &format!("{rat}.name"), &r.name)?;
        if r.start < 0 || r.end > i32::MAX as i64 {
            return Err(ctx.err(&rat, format!("node ids must be between 0 and {}", i32::MAX)));
        }
        if r.end < r.start {
            return Err(ctx.err(
                &rat,
                format!("empty range: end {} is below start {}", r.end, r.start),
            ));
        }
        let range = NodeIdRange {
            name: r.name.clone(),
            start: r.start as i32,
            end: r.end as i32,
        };
        if let Some(other) = node_ids
            .iter()
            .find(|o| o.start <= range.end && range.start <= o.end)
        {
            return Err(ctx.err(
                &rat,
                format!(
                    "overlaps range '{}' ({}..{})",
                    other.name, other.start, other.end
                ),
            ));
        }
        if node_ids.iter().any(|o| o.name == range.name) {
            return Err(ctx.err(
                format!("{rat}.name"),
                format!("duplicate range name '{}'", range.name),
            ));
        }
        node_ids.push(range);
    }
    Ok(StreamingDomain {
        name: d.name.clone(),
        cluster_name: k.name.clone().unwrap_or_else(|| d.name.clone()),
        bootstrap_servers,
        node_ids,
    })
}

/// Ports claimed so far, to refuse two listeners on one port.
#[derive(Default)]
struct PortBook(HashMap<u16, Vec<(IpAddr, String)>>);

impl PortBook {
    fn claim(
        &mut self,
        ctx: &Ctx,
        path: &str,
        addr: SocketAddr,
        what: String,
    ) -> Result<(), ConfigError> {
        let holders = self.0.entry(addr.port()).or_default();
        if let Some((_, other)) = holders
            .iter()
            .find(|(ip, _)| *ip == addr.ip() || ip.is_unspecified() || addr.ip().is_unspecified())
        {
            return Err(ctx.err(
                path,
                format!(
                    "port {} is needed for {what} but is already {other}",
                    addr.port()
                ),
            ));
        }
        holders.push((addr.ip(), what));
        Ok(())
    }
}
