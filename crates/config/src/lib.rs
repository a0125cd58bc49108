//! Process configuration: one YAML file holding the gateway's own settings and the static
//! topology (streaming domains and routes, in the shape Confluent's gateway uses).
//!
//! Parsing happens in two steps. [`raw`] mirrors the file with serde and refuses unknown
//! fields; [`validate`] turns it into types that cannot be inconsistent (every route names an
//! existing domain and listener, ports do not collide, ranges are sane, TLS files load). Every
//! error names the file, the field path and the reason, and the gateway refuses to start.

mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gatehouse_routing::Topology;

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

/// Settings of the gateway process itself.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub max_frame_bytes: usize,
    pub upstream_connect_timeout: Duration,
    /// Requests a client connection may have outstanding before the gateway stops reading it.
    pub max_in_flight_requests: usize,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
}

/// A whole, validated configuration.
#[derive(Debug)]
pub struct GatewayConfig {
    pub gateway: GatewaySettings,
    pub admin: Option<AdminSettings>,
    pub topology: Topology,
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
