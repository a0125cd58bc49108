//! Process configuration: one YAML file holding the gateway's own settings and the static
//! topology (streaming domains and routes, in the shape Confluent's gateway uses).
//!
//! Parsing happens in two steps. [`raw`] mirrors the file with serde and refuses unknown
//! fields; [`validate`] turns it into types that cannot be inconsistent (every route names an
//! existing domain and listener, ports do not collide, ranges are sane, TLS files load). Every
//! error names the file, the field path and the reason, and the gateway refuses to start.

mod auth;
mod limits;
mod raw;
mod routes;
mod security;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::listener::RouteSecurity;
use gatehouse_routing::{DomainRegistry, Topology};

pub use auth::{AuthSettings, TokenKeySource, TOKEN_KEY_HELP};
pub use limits::{
    open_files_limit, ClientLimits, DrainSettings, GatewaySettings,
    DEFAULT_MAX_UNAUTHENTICATED_FRAME_BYTES,
};

/// The embedded default, used when `serve` gets no `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.yaml");
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default>";

/// A configuration problem: where, and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {path}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    /// Who may call `/gateway/v2/*` (HTTP basic auth). From `admin.users`, else one user
    /// `admin` whose password is `GATEHOUSE_ADMIN_PASSWORD` when that is set, else nobody: the
    /// v2 API then refuses every call (health and metrics stay open).
    pub users: Vec<AdminUser>,
    /// `admin.tls`: certificate files re-read when they change; client certificates optional.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `admin.headerTimeoutMs` (default 10 s): for a request's headers, a TLS handshake, and a
    /// keep-alive connection's next request.
    pub header_timeout: Duration,
    /// `admin.bodyTimeoutMs` (default 30 s): for a request body to arrive in full.
    pub body_timeout: Duration,
    /// `admin.metricsAuth` (default false): `/metrics` needs an admin user's credentials.
    pub metrics_auth: bool,
    /// `admin.loginFailureMaxDelayMs` (default 5 s): the longest wait imposed on login attempts
    /// from an address that keeps giving wrong credentials.
    pub login_failure_max_delay: Duration,
}

/// One admin API user. The password may be written `${ENV_VAR}` in the file.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for AdminUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminUser")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Environment variable giving the password of the implicit `admin` user when the
/// configuration lists no admin users.
pub const ADMIN_PASSWORD_ENV: &str = "GATEHOUSE_ADMIN_PASSWORD";
/// Environment variable overriding the default data directory.
pub const DATA_DIR_ENV: &str = "GATEHOUSE_DATA_DIR";
/// The data directory when neither `store.dataDir` nor `GATEHOUSE_DATA_DIR` says otherwise
/// (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "gatehouse-data";

/// Where tenant resources are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `sqlite://...` or `postgres://...`. Default: `sqlite://<dataDir>/gatehouse.db?mode=rwc`.
    pub url: String,
    /// `store.dataDir`, else `GATEHOUSE_DATA_DIR`, else `./gatehouse-data`; relative paths in the
    /// file are relative to the file.
    pub data_dir: PathBuf,
}

/// A whole, validated configuration.
#[derive(Debug)]
pub struct GatewayConfig {
    pub gateway: GatewaySettings,
    pub admin: Option<AdminSettings>,
    pub store: StoreSettings,
    /// The `auth` block (token key, mandatory virtual cluster, session lifetime).
    pub auth: AuthSettings,
    pub topology: Topology,
    /// How each route's clients authenticate, by route name.
    pub security: BTreeMap<String, Arc<RouteSecurity>>,
    /// What the topology's upstreams learn (node directories, API versions), kept across
    /// topology swaps: a configuration reloaded later passes it to [`load_file_reusing`].
    pub domain_state: Arc<DomainRegistry>,
}

/// Reads and validates a configuration file (the first of a process: nothing learned yet).
pub fn load_file(path: &Path) -> Result<GatewayConfig, ConfigError> {
    load_file_reusing(path, &DomainRegistry::new())
}

/// Reads and validates a configuration file whose upstreams reuse what `registry` holds
/// (a reload: the running topology's `domain_state`), so learned broker addresses and API
/// versions survive the swap.
pub fn load_file_reusing(
    path: &Path,
    registry: &Arc<DomainRegistry>,
) -> Result<GatewayConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: "(file)".into(),
        reason: format!("cannot read: {e}"),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    load_str_reusing(&text, &file, base, registry)
}

/// Validates configuration text. `file` names it in errors; relative paths inside it are
/// resolved against `base` (the file's directory).
pub fn load_str(text: &str, file: &str, base: &Path) -> Result<GatewayConfig, ConfigError> {
    load_str_reusing(text, file, base, &DomainRegistry::new())
}

/// [`load_str`] whose upstreams reuse what `registry` holds (see [`load_file_reusing`]).
pub fn load_str_reusing(
    text: &str,
    file: &str,
    base: &Path,
    registry: &Arc<DomainRegistry>,
) -> Result<GatewayConfig, ConfigError> {
    let raw = raw::parse(text, file)?;
    validate::validate(raw, file, base, registry)
}

/// The embedded default configuration.
pub fn embedded_default() -> GatewayConfig {
    load_str(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, Path::new("."))
        .expect("the embedded default is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_DOMAIN: &str = r#"
streamingDomains:
  - name: d
    kafkaCluster:
      bootstrapServers: [{ id: internal, endpoint: "127.0.0.1:9092" }]
      nodeIdRanges: [{ name: pool, start: 0, end: 2 }]
routes:
  - name: r
    endpoint: "127.0.0.1:19092"
    streamingDomain: { name: d, bootstrapServerId: internal }
"#;

    fn upstream(c: &GatewayConfig) -> Arc<gatehouse_routing::upstream::UpstreamCluster> {
        c.topology.upstream_for(&c.topology.routes["r"]).unwrap()
    }

    #[test]
    fn a_reloaded_topology_keeps_the_learned_broker_addresses() {
        let first = load_str(ONE_DOMAIN, "t.yaml", Path::new(".")).unwrap();
        upstream(&first).learn(1, "kafka-1.internal", 9092);
        let registry = first.domain_state.clone();
        let second = load_str_reusing(ONE_DOMAIN, "t.yaml", Path::new("."), &registry).unwrap();
        assert!(
            !Arc::ptr_eq(&upstream(&first), &upstream(&second)),
            "a new topology"
        );
        let known = upstream(&second).state().address_of(1).unwrap();
        assert_eq!(known.to_string(), "kafka-1.internal:9092");
        // A fresh load (another process) knows nothing.
        let fresh = load_str(ONE_DOMAIN, "t.yaml", Path::new(".")).unwrap();
        assert_eq!(upstream(&fresh).state().address_of(1), None);
    }

    #[test]
    fn a_listener_pointed_elsewhere_or_removed_starts_afresh() {
        let first = load_str(ONE_DOMAIN, "t.yaml", Path::new(".")).unwrap();
        upstream(&first).learn(1, "kafka-1.internal", 9092);
        let registry = first.domain_state.clone();
        let moved = ONE_DOMAIN.replace("127.0.0.1:9092", "127.0.0.2:9092");
        let second = load_str_reusing(&moved, "t.yaml", Path::new("."), &registry).unwrap();
        assert_eq!(upstream(&second).state().address_of(1), None);
        let renamed = ONE_DOMAIN.replace("internal", "other");
        load_str_reusing(&renamed, "t.yaml", Path::new("."), &registry).unwrap();
        assert_eq!(registry.len(), 1, "the old listener's state is dropped");
    }
}
