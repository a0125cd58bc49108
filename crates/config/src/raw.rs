//! The configuration file as written: serde types that refuse unknown fields.

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    #[serde(default)]
    pub gateway: RawGateway,
    pub admin: Option<RawAdmin>,
    pub store: Option<RawStore>,
    pub auth: Option<crate::auth::RawAuth>,
    #[serde(default)]
    pub streaming_domains: Vec<RawDomain>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawGateway {
    pub max_frame_bytes: Option<u64>,
    pub upstream_connect_timeout_ms: Option<u64>,
    pub max_in_flight_requests: Option<u64>,
    pub splice_forwarding: Option<bool>,
    pub upstream_request_timeout_ms: Option<u64>,
    pub max_unauthenticated_frame_bytes: Option<u64>,
    pub max_buffered_bytes: Option<u64>,
    pub connections_max_idle_ms: Option<u64>,
    pub authentication_timeout_ms: Option<u64>,
    pub frame_progress_timeout_ms: Option<u64>,
    pub frame_progress_min_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_ip: Option<u64>,
    pub max_connection_creation_rate_per_ip: Option<u64>,
    pub drain_timeout_ms: Option<u64>,
    pub drain_step_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAdmin {
    pub listen: String,
    #[serde(default)]
    pub users: Vec<RawAdminUser>,
    /// Serve the admin API over TLS (same fields as a route's `security.tls`).
    pub tls: Option<RawServerTls>,
    pub header_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    /// `/metrics` needs an admin user's credentials.
    pub metrics_auth: Option<bool>,
    pub login_failure_max_delay_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAdminUser {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStore {
    pub url: Option<String>,
    pub data_dir: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDomain {
    pub name: String,
    #[serde(rename = "type", default = "kafka")]
    pub kind: String,
    pub kafka_cluster: RawKafkaCluster,
}

fn kafka() -> String {
    "kafka".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKafkaCluster {
    pub name: Option<String>,
    pub bootstrap_servers: Vec<RawBootstrapServer>,
    pub node_id_ranges: Vec<RawNodeIdRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBootstrapServer {
    pub id: String,
    pub endpoint: String,
    pub ssl: Option<RawSsl>,
    /// The gateway's own SASL login to these brokers.
    pub sasl: Option<RawUpstreamSasl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawUpstreamSasl {
    pub mechanism: String,
    pub username: Option<String>,
    /// May be `${ENV_VAR}`.
    pub password: Option<String>,
    /// OAUTHBEARER: the client-credentials grant.
    pub token_endpoint: Option<String>,
    pub client_id: Option<String>,
    /// May be `${ENV_VAR}`.
    pub client_secret: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSsl {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNodeIdRange {
    pub name: String,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRoute {
    pub name: String,
    pub endpoint: String,
    pub bind_host: Option<String>,
    #[serde(default)]
    pub broker_identification_strategy: RawIdentification,
    pub streaming_domain: RawRouteDomain,
    /// Further domains whose brokers the route's clients see, at declared virtual node ids.
    #[serde(default)]
    pub additional_streaming_domains: Vec<RawAdditionalDomain>,
    /// Binds every connection on the route to this virtual cluster.
    pub virtual_cluster: Option<String>,
    /// How clients authenticate on this route; PLAINTEXT when absent.
    pub security: Option<RawSecurity>,
    /// Most client connections open at once on this route (all its ports together).
    pub max_connections: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSecurity {
    pub protocol: String,
    pub tls: Option<RawServerTls>,
    pub sasl: Option<RawSasl>,
    pub oauth: Option<gatehouse_auth::oauth::OAuthConfig>,
    pub principal_mapping_rules: Option<String>,
    pub max_session_lifetime_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServerTls {
    pub cert_file: String,
    pub key_file: String,
    pub client_auth: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSasl {
    #[serde(default)]
    pub mechanisms: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIdentification {
    #[serde(rename = "type")]
    pub kind: String,
}

impl Default for RawIdentification {
    fn default() -> Self {
        Self {
            kind: "port".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRouteDomain {
    pub name: String,
    pub bootstrap_server_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAdditionalDomain {
    pub name: String,
    pub bootstrap_server_id: String,
    /// The virtual node id of the domain's first node id (ids follow in `nodeIdRanges` order).
    pub virtual_node_id_start: i64,
}

/// Parses YAML, reporting the path of the field serde stopped at.
pub fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // serde_yaml starts its message with the parent's path ("routes[0]: ...") and ends it
        // with "at line L column C". The path is already ours to give; the position helps.
        let mut reason = e.into_inner().to_string();
        if let Some((prefix, rest)) = reason.split_once(": ") {
            if path.starts_with(prefix) {
                reason = rest.to_string();
            }
        }
        ConfigError {
            file: file.into(),
            path: if path == "." {
                "(document)".into()
            } else {
                path
            },
            reason,
        }
    })
}
