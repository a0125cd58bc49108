//! Tenant resources as declarative documents (`apiVersion`, `kind`, `metadata`, `spec`), the
//! validation that needs no other resource, and the normalised document a resource is stored
//! and served as (every default written out, so what `GET` returns is valid `PUT` input).

#[cfg(test)]
mod acl_tests;
mod acls;
mod alias;
mod names;
#[cfg(test)]
mod tests;
mod zone;
#[cfg(test)]
mod zone_tests;

pub use acls::{
    Acl, AclOperation, AclPatternType, AclPermissionType, AclResourceType, MAX_ACLS,
    MAX_ACL_NAME_LEN,
};
pub use alias::{
    topic_name_problem, AliasAccess, AliasTopic, MAX_DOMAIN_NAME_LEN, MAX_TOPIC_NAME_LEN,
    TOPIC_NAME_RULE,
};

pub use zone::{
    AuthenticationMode, PartnerZone, TrafficLimits, ZoneResources, ZoneTopic,
    MAX_BOOTSTRAP_SERVERS, MAX_ZONE_TEXT_LEN, MAX_ZONE_TOPICS, PARTNER_ZONE_KIND,
};

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::StoreError;

pub use names::{check_name, name_problem, PRINCIPAL_RULE, VCLUSTER_NAME_RULE};
use names::{check_principal, kafka_legal, LEGAL};
pub(crate) use names::{check_vcluster_name, passthrough_is_built_in};

/// The `apiVersion` of every resource.
pub const API_VERSION: &str = "gateway/v2";
/// The built-in virtual cluster: no prefix, sees the upstream cluster as it is. It exists in
/// every snapshot and can be neither created, changed nor deleted.
pub const PASSTHROUGH: &str = "passthrough";
/// Longest virtual cluster name.
pub const MAX_VCLUSTER_NAME_LEN: usize = 64;
/// Longest prefix. Kafka topic names are at most 249 characters, so a tenant keeps at least 49
/// characters for its own topic names under the longest prefix.
pub const MAX_PREFIX_LEN: usize = 200;
/// Longest separator.
pub const MAX_SEPARATOR_LEN: usize = 16;
/// Longest service account name and external name (principals such as certificate subjects
/// can be long).
pub const MAX_PRINCIPAL_LEN: usize = 255;

/// The kinds of resource, in dependency order (a kind may refer only to kinds before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    VirtualCluster,
    GatewayServiceAccount,
    AliasTopic,
}

impl Kind {
    pub const ALL: [Kind; 3] = [
        Kind::VirtualCluster,
        Kind::GatewayServiceAccount,
        Kind::AliasTopic,
    ];

    /// The `kind` field of a document.
    pub fn name(self) -> &'static str {
        match self {
            Kind::VirtualCluster => "VirtualCluster",
            Kind::GatewayServiceAccount => "GatewayServiceAccount",
            Kind::AliasTopic => "AliasTopic",
        }
    }

    /// The path segment of the admin API (`/gateway/v2/{path}`).
    pub fn path(self) -> &'static str {
        match self {
            Kind::VirtualCluster => "virtual-cluster",
            Kind::GatewayServiceAccount => "service-account",
            Kind::AliasTopic => "alias-topic",
        }
    }

    /// Whether resources of this kind live inside a virtual cluster (`metadata.vCluster`).
    pub fn scoped(self) -> bool {
        matches!(self, Kind::GatewayServiceAccount | Kind::AliasTopic)
    }

    /// Accepts the path form (`virtual-cluster`) or the kind name (`VirtualCluster`, any case).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.path() == s || k.name().eq_ignore_ascii_case(s))
    }

    /// The kind named by a document's `kind` field (exact spelling).
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What identifies a resource: its kind, its virtual cluster (scoped kinds only; empty
/// otherwise) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub kind: Kind,
    pub vcluster: String,
    pub name: String,
}

impl ResourceKey {
    pub fn virtual_cluster(name: impl Into<String>) -> Self {
        Self {
            kind: Kind::VirtualCluster,
            vcluster: String::new(),
            name: name.into(),
        }
    }

    pub fn service_account(vcluster: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: Kind::GatewayServiceAccount,
            vcluster: vcluster.into(),
            name: name.into(),
        }
    }

    pub fn alias_topic(vcluster: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: Kind::AliasTopic,
            vcluster: vcluster.into(),
            name: name.into(),
        }
    }

    /// The key of `name` of `kind`; `vcluster` (default passthrough) is used for scoped kinds only.
    pub fn new(kind: Kind, vcluster: Option<&str>, name: impl Into<String>) -> Self {
        let vcluster = vcluster.unwrap_or(PASSTHROUGH);
        match kind {
            Kind::VirtualCluster => Self::virtual_cluster(name),
            Kind::GatewayServiceAccount => Self::service_account(vcluster, name),
            Kind::AliasTopic => Self::alias_topic(vcluster, name),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind.scoped() {
            write!(
                f,
                "{}/{} (vCluster {})",
                self.kind, self.name, self.vcluster
            )
        } else {
            write!(f, "{}/{}", self.kind, self.name)
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtualClusterType {
    #[default]
    Standard,
    /// A virtual cluster for a partner: needs `aclEnabled: true`. Super users are optional: a
    /// partner zone's has none, so its ACLs alone decide (deny by default).
    Partner,
}

/// A tenant's view of Kafka: its topics, groups and transactional ids live under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCluster {
    pub name: String,
    /// Prepended to every topic, group and transactional id of the tenant. Empty only for
    /// passthrough.
    pub prefix: String,
    pub separator: String,
    pub acl_enabled: bool,
    pub super_users: Vec<String>,
    pub cluster_type: VirtualClusterType,
    /// The streaming domain holding the tenant's own topics, groups, transactional ids and
    /// WRITE aliases; `None`: the domain of the route the client connects through.
    pub home_domain: Option<String>,
    /// Its ACLs (`spec.acls`), enforced when `acl_enabled`.
    pub acls: Vec<Acl>,
}

impl VirtualCluster {
    /// The built-in passthrough virtual cluster.
    pub fn passthrough() -> Self {
        Self {
            name: PASSTHROUGH.into(),
            prefix: String::new(),
            separator: String::new(),
            acl_enabled: false,
            super_users: Vec::new(),
            cluster_type: VirtualClusterType::Standard,
            home_domain: None,
            acls: Vec::new(),
        }
    }

    pub fn is_passthrough(&self) -> bool {
        self.name == PASSTHROUGH
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ServiceAccountType {
    /// Authenticates with a gateway-issued credential; its name is the principal.
    Local,
    /// Authenticated elsewhere (mTLS subject, OIDC subject, delegated SASL user); any of its
    /// `external_names` maps to it.
    External,
}

/// A principal known to the gateway, mapped to a virtual cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub name: String,
    pub vcluster: String,
    pub account_type: ServiceAccountType,
    pub external_names: Vec<String>,
}

/// One resource of any kind, validated on its own (references to other resources are checked
/// by the store against its current state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    VirtualCluster(VirtualCluster),
    ServiceAccount(ServiceAccount),
    AliasTopic(AliasTopic),
}

impl Resource {
    pub fn kind(&self) -> Kind {
        match self {
            Resource::VirtualCluster(_) => Kind::VirtualCluster,
            Resource::ServiceAccount(_) => Kind::GatewayServiceAccount,
            Resource::AliasTopic(_) => Kind::AliasTopic,
        }
    }

    pub fn key(&self) -> ResourceKey {
        match self {
            Resource::VirtualCluster(v) => ResourceKey::virtual_cluster(&v.name),
            Resource::ServiceAccount(a) => ResourceKey::service_account(&a.vcluster, &a.name),
            Resource::AliasTopic(a) => ResourceKey::alias_topic(&a.vcluster, &a.name),
        }
    }

    /// Parses and validates a document. Unknown fields are refused; every error names the
    /// field path (`spec.prefix: ...`).
    pub fn from_document(doc: &Value) -> Result<Resource, StoreError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid("(document)", "a resource must be an object"))?;
        let kind = match obj.get("kind") {
            None => return Err(invalid("kind", "missing field `kind`")),
            Some(Value::String(s)) if s == zone::PARTNER_ZONE_KIND => {
                return Err(invalid(
                    "kind",
                    "a PartnerZone is applied on its own, with `gatehouse partner onboard -f` (PUT /gateway/v2/partner-zone)",
                ))
            }
            Some(Value::String(s)) => Kind::from_name(s).ok_or_else(|| {
                invalid(
                    "kind",
                    format!(
                        "unknown kind '{s}' (known: {})",
                        Kind::ALL.map(Kind::name).join(", ")
                    ),
                )
            })?,
            Some(_) => return Err(invalid("kind", "must be a string")),
        };
        match kind {
            Kind::VirtualCluster => {
                let d: VirtualClusterDoc = deserialize(doc)?;
                check_api_version(&d.api_version)?;
                d.build().map(Resource::VirtualCluster)
            }
            Kind::GatewayServiceAccount => {
                let d: ServiceAccountDoc = deserialize(doc)?;
                check_api_version(&d.api_version)?;
                d.build().map(Resource::ServiceAccount)
            }
            Kind::AliasTopic => {
                let d: alias::AliasTopicDoc = deserialize(doc)?;
                check_api_version(&d.api_version)?;
                d.build().map(Resource::AliasTopic)
            }
        }
    }

    /// The normalised document: every default written out. Valid input for [`Resource::from_document`].
    pub fn to_document(&self) -> Value {
        match self {
            Resource::VirtualCluster(v) => {
                let mut doc = json!({
                    "apiVersion": API_VERSION,
                    "kind": Kind::VirtualCluster.name(),
                    "metadata": { "name": v.name },
                    "spec": {
                        "prefix": v.prefix,
                        "separator": v.separator,
                        "aclEnabled": v.acl_enabled,
                        "superUsers": v.super_users,
                        "type": v.cluster_type,
                    },
                });
                // Unset has no value to write out: it means "the route's domain".
                if let Some(d) = &v.home_domain {
                    doc["spec"]["homeDomain"] = json!(d);
                }
                // None is written as no field, so documents without ACLs read as before.
                if !v.acls.is_empty() {
                    doc["spec"]["acls"] = v.acls.iter().map(Acl::to_document).collect();
                }
                doc
            }
            Resource::ServiceAccount(a) => json!({
                "apiVersion": API_VERSION,
                "kind": Kind::GatewayServiceAccount.name(),
                "metadata": { "name": a.name, "vCluster": a.vcluster },
                "spec": {
                    "type": a.account_type,
                    "externalNames": a.external_names,
                },
            }),
            Resource::AliasTopic(a) => {
                let mut doc = json!({
                    "apiVersion": API_VERSION,
                    "kind": Kind::AliasTopic.name(),
                    "metadata": { "name": a.name, "vCluster": a.vcluster },
                    "spec": {
                        "physicalName": a.physical_name,
                        "access": a.access,
                    },
                });
                // Unset: the virtual cluster's home domain, which may itself be unset.
                if let Some(d) = &a.physical_cluster {
                    doc["spec"]["physicalCluster"] = json!(d);
                }
                doc
            }
        }
    }
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn deserialize<T: DeserializeOwned>(doc: &Value) -> Result<T, StoreError> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." {
                "(document)".into()
            } else {
                path
            },
            e.into_inner().to_string(),
        )
    })
}

fn check_api_version(v: &str) -> Result<(), StoreError> {
    if v != API_VERSION {
        return Err(invalid(
            "apiVersion",
            format!("'{v}' is not supported (expected '{API_VERSION}')"),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VirtualClusterDoc {
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: NameOnly,
    #[serde(default)]
    spec: VirtualClusterSpecDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VirtualClusterSpecDoc {
    prefix: Option<String>,
    separator: Option<String>,
    #[serde(default)]
    acl_enabled: bool,
    #[serde(default)]
    super_users: Vec<String>,
    #[serde(rename = "type", default)]
    cluster_type: VirtualClusterType,
    home_domain: Option<String>,
    #[serde(default)]
    acls: Vec<acls::AclDoc>,
}

impl VirtualClusterDoc {
    fn build(self) -> Result<VirtualCluster, StoreError> {
        let name = self.metadata.name;
        if name == PASSTHROUGH {
            return Err(passthrough_is_built_in("metadata.name"));
        }
        check_vcluster_name("metadata.name", &name)?;
        let s = self.spec;
        let separator = s.separator.unwrap_or_else(|| ".".into());
        if separator.len() > MAX_SEPARATOR_LEN {
            return Err(invalid(
                "spec.separator",
                format!("must be at most {MAX_SEPARATOR_LEN} characters long"),
            ));
        }
        if !kafka_legal(&separator) {
            return Err(invalid("spec.separator", format!("'{separator}': {LEGAL}")));
        }
        let prefix = s.prefix.unwrap_or_else(|| format!("{name}{separator}"));
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
            return Err(invalid(
                "spec.prefix",
                format!(
                    "must be 1 to {MAX_PREFIX_LEN} characters long (Kafka names are at most 249)"
                ),
            ));
        }
        if !kafka_legal(&prefix) {
            return Err(invalid("spec.prefix", format!("'{prefix}': {LEGAL}")));
        }
        for (i, u) in s.super_users.iter().enumerate() {
            check_principal(&format!("spec.superUsers[{i}]"), u)?;
        }
        if s.cluster_type == VirtualClusterType::Partner && !s.acl_enabled {
            return Err(invalid(
                "spec.aclEnabled",
                "a Partner virtual cluster needs aclEnabled: true",
            ));
        }
        if let Some(d) = &s.home_domain {
            alias::check_domain_name("spec.homeDomain", d)?;
        }
        let acls = acls::build_acls(s.acls)?;
        Ok(VirtualCluster {
            name,
            prefix,
            separator,
            acl_enabled: s.acl_enabled,
            super_users: s.super_users,
            cluster_type: s.cluster_type,
            home_domain: s.home_domain,
            acls,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceAccountDoc {
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: ScopedMetadata,
    spec: ServiceAccountSpecDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScopedMetadata {
    pub(crate) name: String,
    pub(crate) v_cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceAccountSpecDoc {
    #[serde(rename = "type")]
    account_type: ServiceAccountType,
    #[serde(default)]
    external_names: Vec<String>,
}

impl ServiceAccountDoc {
    fn build(self) -> Result<ServiceAccount, StoreError> {
        let name = self.metadata.name;
        check_principal("metadata.name", &name)?;
        let vcluster = self
            .metadata
            .v_cluster
            .unwrap_or_else(|| PASSTHROUGH.into());
        check_vcluster_name("metadata.vCluster", &vcluster)?;
        let s = self.spec;
        match s.account_type {
            ServiceAccountType::Local if !s.external_names.is_empty() => {
                return Err(invalid(
                    "spec.externalNames",
                    "must be empty for a LOCAL service account (its name is its principal)",
                ))
            }
            ServiceAccountType::External if s.external_names.is_empty() => {
                return Err(invalid(
                    "spec.externalNames",
                    "an EXTERNAL service account needs at least one external name",
                ))
            }
            _ => {}
        }
        for (i, n) in s.external_names.iter().enumerate() {
            let field = format!("spec.externalNames[{i}]");
            check_principal(&field, n)?;
            if s.external_names[..i].contains(n) {
                return Err(invalid(field, format!("'{n}' is listed twice")));
            }
        }
        Ok(ServiceAccount {
            name,
            vcluster,
            account_type: s.account_type,
            external_names: s.external_names,
        })
    }
}
