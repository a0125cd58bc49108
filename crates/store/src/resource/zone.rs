//! `PartnerZone`: one document for everything a partner needs — a Partner virtual cluster
//! named like the zone, one alias topic per shared topic, the service account the partner
//! authenticates as, and the ACLs its topic permissions imply. This module checks what the
//! document can say on its own and derives those resources ([`PartnerZone::implied`]); the
//! store applies them in one transaction (see `snapshot::zones`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::alias::{check_domain_name, check_topic_name};
use super::names::{check_principal, check_vcluster_name, passthrough_is_built_in};
use super::{
    invalid, Acl, AclOperation, AclPatternType, AclPermissionType, AclResourceType, AliasAccess,
    AliasTopic, Resource, ServiceAccount, ServiceAccountType, VirtualCluster, VirtualClusterType,
    API_VERSION, PASSTHROUGH,
};
use crate::StoreError;

/// The `kind` of a zone document.
pub const PARTNER_ZONE_KIND: &str = "PartnerZone";
/// Most topics one zone shares.
pub const MAX_ZONE_TOPICS: usize = 1000;
/// Longest displayName, contact or route name.
pub const MAX_ZONE_TEXT_LEN: usize = 1000;
/// Most entries of `spec.bootstrapServers`.
pub const MAX_BOOTSTRAP_SERVERS: usize = 64;

/// How the partner's clients authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthenticationMode {
    /// SASL/PLAIN with gateway tokens issued for the zone's LOCAL service account.
    #[default]
    #[serde(rename = "PLAIN")]
    Plain,
    /// SASL/OAUTHBEARER with the partner's identity provider; `externalPrincipal` is the
    /// token's subject.
    #[serde(rename = "OAUTHBEARER")]
    OAuthBearer,
    /// A client certificate; `externalPrincipal` is the principal its subject maps to.
    #[serde(rename = "MTLS")]
    Mtls,
}

impl AuthenticationMode {
    pub fn name(self) -> &'static str {
        match self {
            AuthenticationMode::Plain => "PLAIN",
            AuthenticationMode::OAuthBearer => "OAUTHBEARER",
            AuthenticationMode::Mtls => "MTLS",
        }
    }
}

/// One topic the zone shares: an alias `name` in the zone's virtual cluster for
/// `backing_topic` on `physical_cluster` (unset: the home domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTopic {
    pub name: String,
    pub backing_topic: String,
    pub physical_cluster: Option<String>,
    pub permission: AliasAccess,
}

/// Limits on the partner's traffic. Stored now; enforced by the governance work later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produce_bytes_per_second: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume_bytes_per_second: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits_per_minute: Option<u64>,
}

/// A partner zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerZone {
    /// Also the name of its virtual cluster.
    pub name: String,
    pub display_name: Option<String>,
    pub contact: Option<String>,
    /// The configured route partners bootstrap on.
    pub route: Option<String>,
    /// Explicit `host:port`s partners bootstrap on (a load balancer in front of the route).
    pub bootstrap_servers: Vec<String>,
    pub authentication_mode: AuthenticationMode,
    /// The zone's service account (default: the zone's name).
    pub service_account: String,
    /// OAUTHBEARER and MTLS: the principal the partner authenticates as.
    pub external_principal: Option<String>,
    pub home_domain: Option<String>,
    pub topics: Vec<ZoneTopic>,
    pub traffic_limits: TrafficLimits,
}

/// What a zone implies, as ordinary resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneResources {
    pub virtual_cluster: VirtualCluster,
    pub service_account: ServiceAccount,
    /// In the order of `spec.topics`.
    pub aliases: Vec<AliasTopic>,
}

impl PartnerZone {
    /// The name the partner's clients authenticate as, which the ACLs name: the LOCAL account
    /// for PLAIN, the external principal otherwise.
    pub fn principal(&self) -> &str {
        self.external_principal
            .as_deref()
            .unwrap_or(&self.service_account)
    }

    /// The ACLs the topic permissions imply, for `User:<principal>`: READ on every topic
    /// (READ implies DESCRIBE), WRITE on the WRITE topics, READ on every consumer group (the
    /// virtual cluster's prefix confines them to the zone) and, with any WRITE topic, WRITE
    /// and DESCRIBE on every transactional id (likewise confined).
    pub fn acls(&self) -> Vec<Acl> {
        let principal = format!("User:{}", self.principal());
        let allow = |resource_type, name: &str, operation| Acl {
            resource_type,
            name: name.to_string(),
            pattern_type: AclPatternType::Literal,
            principal: principal.clone(),
            host: "*".into(),
            operation,
            permission_type: AclPermissionType::Allow,
        };
        let mut acls = Vec::new();
        for t in &self.topics {
            acls.push(allow(AclResourceType::Topic, &t.name, AclOperation::Read));
            if t.permission == AliasAccess::Write {
                acls.push(allow(AclResourceType::Topic, &t.name, AclOperation::Write));
            }
        }
        acls.push(allow(AclResourceType::Group, "*", AclOperation::Read));
        if self
            .topics
            .iter()
            .any(|t| t.permission == AliasAccess::Write)
        {
            acls.push(allow(
                AclResourceType::TransactionalId,
                "*",
                AclOperation::Write,
            ));
            acls.push(allow(
                AclResourceType::TransactionalId,
                "*",
                AclOperation::Describe,
            ));
        }
        acls
    }

    /// The virtual cluster, service account and alias topics the zone stands for.
    pub fn implied(&self) -> ZoneResources {
        let virtual_cluster = VirtualCluster {
            name: self.name.clone(),
            prefix: format!("{}.", self.name),
            separator: ".".into(),
            acl_enabled: true,
            super_users: Vec::new(),
            cluster_type: VirtualClusterType::Partner,
            home_domain: self.home_domain.clone(),
            acls: self.acls(),
        };
        let service_account = ServiceAccount {
            name: self.service_account.clone(),
            vcluster: self.name.clone(),
            account_type: match self.authentication_mode {
                AuthenticationMode::Plain => ServiceAccountType::Local,
                _ => ServiceAccountType::External,
            },
            external_names: self.external_principal.iter().cloned().collect(),
        };
        let aliases = self
            .topics
            .iter()
            .map(|t| AliasTopic {
                name: t.name.clone(),
                vcluster: self.name.clone(),
                physical_name: t.backing_topic.clone(),
                physical_cluster: t.physical_cluster.clone(),
                access: t.permission,
            })
            .collect();
        ZoneResources {
            virtual_cluster,
            service_account,
            aliases,
        }
    }

    /// The resources of [`PartnerZone::implied`], virtual cluster first.
    pub fn implied_resources(&self) -> Vec<Resource> {
        let z = self.implied();
        let mut out = vec![
            Resource::VirtualCluster(z.virtual_cluster),
            Resource::ServiceAccount(z.service_account),
        ];
        out.extend(z.aliases.into_iter().map(Resource::AliasTopic));
        out
    }

    /// Parses and validates a zone document. Unknown fields are refused (a `status`, as GET
    /// answers it, is ignored); every error names the field path.
    pub fn from_document(doc: &Value) -> Result<PartnerZone, StoreError> {
        let d: ZoneDoc = super::deserialize(doc)?;
        super::check_api_version(&d.api_version)?;
        if d.kind != PARTNER_ZONE_KIND {
            return Err(invalid(
                "kind",
                format!("'{}' is not a {PARTNER_ZONE_KIND}", d.kind),
            ));
        }
        d.build()
    }

    /// The normalised document (defaults written out); valid input for
    /// [`PartnerZone::from_document`].
    pub fn to_document(&self) -> Value {
        let mut spec = json!({
            "authenticationMode": self.authentication_mode,
            "serviceAccount": self.service_account,
            "topics": self.topics.iter().map(|t| {
                let mut v = json!({"name": t.name, "backingTopic": t.backing_topic, "permission": t.permission});
                if let Some(d) = &t.physical_cluster {
                    v["physicalCluster"] = json!(d);
                }
                v
            }).collect::<Vec<_>>(),
            "trafficLimits": self.traffic_limits,
        });
        let optional = [
            ("displayName", self.display_name.as_ref()),
            ("contact", self.contact.as_ref()),
            ("route", self.route.as_ref()),
            ("externalPrincipal", self.external_principal.as_ref()),
            ("homeDomain", self.home_domain.as_ref()),
        ];
        for (field, value) in optional {
            if let Some(v) = value {
                spec[field] = json!(v);
            }
        }
        if !self.bootstrap_servers.is_empty() {
            spec["bootstrapServers"] = json!(self.bootstrap_servers);
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": PARTNER_ZONE_KIND,
            "metadata": {"name": self.name},
            "spec": spec,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ZoneDoc {
    api_version: String,
    kind: String,
    metadata: super::NameOnly,
    spec: ZoneSpecDoc,
    /// What GET answers besides the document; ignored, so GET output is valid PUT input.
    #[allow(dead_code)]
    status: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ZoneSpecDoc {
    display_name: Option<String>,
    contact: Option<String>,
    route: Option<String>,
    #[serde(default)]
    bootstrap_servers: Vec<String>,
    #[serde(default)]
    authentication_mode: AuthenticationMode,
    service_account: Option<String>,
    external_principal: Option<String>,
    home_domain: Option<String>,
    #[serde(default)]
    topics: Vec<ZoneTopicDoc>,
    #[serde(default)]
    traffic_limits: TrafficLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ZoneTopicDoc {
    name: String,
    backing_topic: String,
    physical_cluster: Option<String>,
    #[serde(default)]
    permission: AliasAccess,
}

/// Free text of at most [`MAX_ZONE_TEXT_LEN`] characters without control characters.
fn check_text(field: &str, s: &str) -> Result<(), StoreError> {
    if s.is_empty() || s.chars().count() > MAX_ZONE_TEXT_LEN || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("1 to {MAX_ZONE_TEXT_LEN} characters, no control characters"),
        ));
    }
    Ok(())
}

/// `host:port` with a port from 1 to 65535.
fn check_host_port(field: &str, s: &str) -> Result<(), StoreError> {
    let port = s
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty() && !host.contains(char::is_whitespace))
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .filter(|p| *p > 0);
    match port {
        Some(_) => Ok(()),
        None => Err(invalid(
            field,
            format!(
                "'{}' is not host:port (e.g. partners.example.com:9092)",
                s.escape_debug()
            ),
        )),
    }
}

impl ZoneDoc {
    fn build(self) -> Result<PartnerZone, StoreError> {
        let name = self.metadata.name;
        if name == PASSTHROUGH {
            return Err(passthrough_is_built_in("metadata.name"));
        }
        check_vcluster_name("metadata.name", &name)?;
        let s = self.spec;
        for (field, value) in [
            ("spec.displayName", &s.display_name),
            ("spec.contact", &s.contact),
            ("spec.route", &s.route),
        ] {
            if let Some(v) = value {
                check_text(field, v)?;
            }
        }
        if s.bootstrap_servers.len() > MAX_BOOTSTRAP_SERVERS {
            return Err(invalid(
                "spec.bootstrapServers",
                format!("at most {MAX_BOOTSTRAP_SERVERS} entries"),
            ));
        }
        for (i, b) in s.bootstrap_servers.iter().enumerate() {
            check_host_port(&format!("spec.bootstrapServers[{i}]"), b)?;
        }
        if s.route.is_none() && s.bootstrap_servers.is_empty() {
            return Err(invalid(
                "spec.route",
                "name the route partners bootstrap on (or list spec.bootstrapServers)",
            ));
        }
        let service_account = s.service_account.unwrap_or_else(|| name.clone());
        check_principal("spec.serviceAccount", &service_account)?;
        match (s.authentication_mode, &s.external_principal) {
            (AuthenticationMode::Plain, Some(_)) => {
                return Err(invalid(
                    "spec.externalPrincipal",
                    "only for OAUTHBEARER and MTLS: with PLAIN the partner authenticates as spec.serviceAccount with gateway tokens",
                ))
            }
            (AuthenticationMode::Plain, None) => {}
            (mode, None) => {
                return Err(invalid(
                    "spec.externalPrincipal",
                    format!(
                        "{} needs the principal the partner authenticates as ({})",
                        mode.name(),
                        match mode {
                            AuthenticationMode::Mtls =>
                                "the name its client certificate's subject maps to",
                            _ => "the subject of its identity provider's tokens",
                        }
                    ),
                ))
            }
            (_, Some(p)) => check_principal("spec.externalPrincipal", p)?,
        }
        if let Some(d) = &s.home_domain {
            check_domain_name("spec.homeDomain", d)?;
        }
        if s.topics.len() > MAX_ZONE_TOPICS {
            return Err(invalid(
                "spec.topics",
                format!("at most {MAX_ZONE_TOPICS} topics per zone"),
            ));
        }
        let mut topics: Vec<ZoneTopic> = Vec::with_capacity(s.topics.len());
        for (i, t) in s.topics.into_iter().enumerate() {
            let at = format!("spec.topics[{i}]");
            check_topic_name(&format!("{at}.name"), &t.name)?;
            if let Some(j) = topics.iter().position(|o| o.name == t.name) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("'{}' is also spec.topics[{j}]", t.name),
                ));
            }
            check_topic_name(&format!("{at}.backingTopic"), &t.backing_topic)?;
            if let Some(d) = &t.physical_cluster {
                check_domain_name(&format!("{at}.physicalCluster"), d)?;
                // The alias rule, said in the zone's words.
                if t.permission == AliasAccess::Write && s.home_domain.as_deref() != Some(d) {
                    let home = match &s.home_domain {
                        Some(h) => format!("the zone's homeDomain '{h}'"),
                        None => "the zone's home domain (spec.homeDomain is unset, so leave physicalCluster unset)".into(),
                    };
                    return Err(invalid(
                        format!("{at}.physicalCluster"),
                        format!("a WRITE topic must be on {home}, not '{d}' (producer ids and transactions are issued per cluster): use permission READ, or move it"),
                    ));
                }
            }
            topics.push(ZoneTopic {
                name: t.name,
                backing_topic: t.backing_topic,
                physical_cluster: t.physical_cluster,
                permission: t.permission,
            });
        }
        for (field, value) in [
            (
                "spec.trafficLimits.produceBytesPerSecond",
                s.traffic_limits.produce_bytes_per_second,
            ),
            (
                "spec.trafficLimits.consumeBytesPerSecond",
                s.traffic_limits.consume_bytes_per_second,
            ),
            (
                "spec.trafficLimits.commitsPerMinute",
                s.traffic_limits.commits_per_minute,
            ),
        ] {
            if value == Some(0) {
                return Err(invalid(
                    field,
                    "must be positive (leave it out for no limit)",
                ));
            }
        }
        Ok(PartnerZone {
            name,
            display_name: s.display_name,
            contact: s.contact,
            route: s.route,
            bootstrap_servers: s.bootstrap_servers,
            authentication_mode: s.authentication_mode,
            service_account,
            external_principal: s.external_principal,
            home_domain: s.home_domain,
            topics,
            traffic_limits: s.traffic_limits,
        })
    }
}
