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
mod security;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::listener::RouteSecurity;
use gatehouse_routing::Topology;

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
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: "(file)".into(),
        reason: format!("cannot read: {e}"),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    load_str(&text, &file, base)
}

/// Validates configuration text. `file` names it in errors; relative paths inside it are
/// resolved against `base` (the file's directory).
pub fn load_str(text: &str, file: &str, base: &Path) -> Result<GatewayConfig, ConfigError> {
    let raw = raw::parse(text, file)?;
    validate::validate(raw, file, base)
}

/// The embedded default configuration.
pub fn embedded_default() -> GatewayConfig {
    load_str(DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, Path::new("."))
        .expect("the embedded default is valid")
}
