//! `VirtualCluster.spec.acls`: the virtual cluster's ACLs, in Conduktor's shape
//! (`resourcePattern: {resourceType, name, patternType}, principal, host, operation,
//! permissionType`) and Kafka's words. This module checks what one entry can say on its own;
//! the data plane evaluates them (gatehouse_tenancy::acl) when `aclEnabled` is true.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{json, Value};

use super::alias::topic_name_problem;
use super::{check_principal, invalid, MAX_PRINCIPAL_LEN};
use crate::StoreError;

/// Most entries one virtual cluster may hold (a decision the data plane has not cached
/// looks at every entry of its resource type).
pub const MAX_ACLS: usize = 10_000;
/// Longest GROUP or TRANSACTIONAL_ID name in an entry.
pub const MAX_ACL_NAME_LEN: usize = 255;
/// The one name of Kafka's CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Generates an enum of Kafka names, read from and written as those names.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn parse(field: &str, s: &str) -> Result<$name, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(invalid(field, format!(
                        concat!("unknown ", $what, " '{}'; one of {}"),
                        s.escape_debug(),
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(
    /// What an ACL is about.
    AclResourceType, "resource type" {
        Topic = "TOPIC",
        Group = "GROUP",
        TransactionalId = "TRANSACTIONAL_ID",
        Cluster = "CLUSTER",
    }
);

names!(
    /// How an ACL's name matches: LITERAL (the name; `*` is every name) or PREFIXED.
    AclPatternType, "pattern type" {
        Literal = "LITERAL",
        Prefixed = "PREFIXED",
    }
);

names!(
    /// What an ACL allows or denies (Kafka's operations; ALL is every one).
    AclOperation, "operation" {
        Read = "READ",
        Write = "WRITE",
        Create = "CREATE",
        Delete = "DELETE",
        Alter = "ALTER",
        Describe = "DESCRIBE",
        ClusterAction = "CLUSTER_ACTION",
        DescribeConfigs = "DESCRIBE_CONFIGS",
        AlterConfigs = "ALTER_CONFIGS",
        IdempotentWrite = "IDEMPOTENT_WRITE",
        All = "ALL",
    }
);

names!(
    /// Whether a matching ACL grants (ALLOW) or refuses (DENY); DENY wins.
    AclPermissionType, "permission type" {
        Allow = "ALLOW",
        Deny = "DENY",
    }
);

/// One ACL of a virtual cluster. Names are the tenant's own (unprefixed, alias names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    pub resource_type: AclResourceType,
    pub name: String,
    pub pattern_type: AclPatternType,
    /// `User:<name>` or `User:*`.
    pub principal: String,
    /// `*` or one IP address, in its canonical form.
    pub host: String,
    pub operation: AclOperation,
    pub permission_type: AclPermissionType,
}

impl Acl {
    /// The entry as `spec.acls` holds it, every default written out.
    pub fn to_document(&self) -> Value {
        json!({
            "resourcePattern": {
                "resourceType": self.resource_type.name(),
                "name": self.name,
                "patternType": self.pattern_type.name(),
            },
            "principal": self.principal,
            "host": self.host,
            "operation": self.operation.name(),
            "permissionType": self.permission_type.name(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AclDoc {
    resource_pattern: ResourcePatternDoc,
    principal: String,
    host: Option<String>,
    operation: String,
    permission_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResourcePatternDoc {
    resource_type: String,
    name: String,
    pattern_type: Option<String>,
}

/// Checks `spec.acls`; each error names the entry and its field (`spec.acls[2].operation`).
pub(super) fn build_acls(docs: Vec<AclDoc>) -> Result<Vec<Acl>, StoreError> {
    if docs.len() > MAX_ACLS {
        return Err(invalid(
            "spec.acls",
            format!(
                "{} entries; a virtual cluster holds at most {MAX_ACLS}",
                docs.len()
            ),
        ));
    }
    let mut seen: HashMap<Acl, usize> = HashMap::with_capacity(docs.len());
    let mut acls = Vec::with_capacity(docs.len());
    for (i, d) in docs.into_iter().enumerate() {
        let at = format!("spec.acls[{i}]");
        let acl = d.build(&at)?;
        if let Some(first) = seen.insert(acl.clone(), i) {
            return Err(invalid(at, format!("the same ACL as spec.acls[{first}]")));
        }
        acls.push(acl);
    }
    Ok(acls)
}

impl AclDoc {
    fn build(self, at: &str) -> Result<Acl, StoreError> {
        let p = self.resource_pattern;
        let resource_type = AclResourceType::parse(
            &format!("{at}.resourcePattern.resourceType"),
            &p.resource_type,
        )?;
        let pattern_type = match &p.pattern_type {
            None => AclPatternType::Literal,
            Some(s) => AclPatternType::parse(&format!("{at}.resourcePattern.patternType"), s)?,
        };
        check_resource_name(
            &format!("{at}.resourcePattern.name"),
            resource_type,
            pattern_type,
            &p.name,
        )?;
        let principal = check_acl_principal(&format!("{at}.principal"), self.principal)?;
        let host = check_host(&format!("{at}.host"), self.host)?;
        let operation = AclOperation::parse(&format!("{at}.operation"), &self.operation)?;
        let permission_type =
            AclPermissionType::parse(&format!("{at}.permissionType"), &self.permission_type)?;
        Ok(Acl {
            resource_type,
            name: p.name,
            pattern_type,
            principal,
            host,
            operation,
            permission_type,
        })
    }
}

/// A name the entry's resource type could hold: never empty; PREFIXED `*` is refused (it
/// means the character, which no name holds: LITERAL `*` is every name); a TOPIC name is made
/// of Kafka's topic characters; CLUSTER has the one name `kafka-cluster`.
fn check_resource_name(
    field: &str,
    resource_type: AclResourceType,
    pattern_type: AclPatternType,
    name: &str,
) -> Result<(), StoreError> {
    use AclPatternType::*;
    if name.is_empty() {
        return Err(invalid(
            field,
            "is empty: name a resource, or LITERAL '*' for every one",
        ));
    }
    match (pattern_type, name) {
        (Prefixed, "*") => return Err(invalid(
            field,
            "PREFIXED '*' matches nothing ('*' is not in any name): use LITERAL '*' for every name",
        )),
        (Literal, "*") => return Ok(()),
        _ => {}
    }
    let problem = match resource_type {
        AclResourceType::Cluster => match pattern_type {
            Literal if name == CLUSTER_NAME => None,
            Prefixed if CLUSTER_NAME.starts_with(name) => None,
            _ => Some(format!(
                "'{}' is not the cluster: the CLUSTER resource is named '{CLUSTER_NAME}' (or LITERAL '*')",
                name.escape_debug()
            )),
        },
        // A start of a topic name is held to the characters and length of one ('.' and '..'
        // are legal starts).
        AclResourceType::Topic if pattern_type == Prefixed && matches!(name, "." | "..") => None,
        AclResourceType::Topic => topic_name_problem(name),
        AclResourceType::Group | AclResourceType::TransactionalId => {
            if name.len() > MAX_ACL_NAME_LEN {
                Some(format!("is {} bytes long; at most {MAX_ACL_NAME_LEN}", name.len()))
            } else if name.chars().any(char::is_control) {
                Some(format!("'{}' holds a control character", name.escape_debug()))
            } else {
                None
            }
        }
    };
    match problem {
        Some(p) => Err(invalid(field, p)),
        None => Ok(()),
    }
}

/// `User:<name>` (a service account name) or `User:*`.
fn check_acl_principal(field: &str, principal: String) -> Result<String, StoreError> {
    match principal.strip_prefix("User:") {
        Some("*") => Ok(principal),
        Some(name) if !name.is_empty() && name.len() <= MAX_PRINCIPAL_LEN => {
            check_principal(field, name)?;
            Ok(principal)
        }
        _ => Err(invalid(
            field,
            format!(
                "'{}' is not a principal: User:<name> (a service account name) or User:* (everyone)",
                principal.escape_debug()
            ),
        )),
    }
}

/// `*` (the default) or an IP address, written in its canonical form (an IPv4-mapped IPv6
/// address as its IPv4 address, as Kafka reads it). Host names are refused: Kafka compares
/// the client's address, never a name.
fn check_host(field: &str, host: Option<String>) -> Result<String, StoreError> {
    let Some(host) = host else {
        return Ok("*".into());
    };
    if host == "*" {
        return Ok(host);
    }
    match host.parse::<IpAddr>() {
        Ok(a) => Ok(a.to_canonical().to_string()),
        Err(_) => Err(invalid(
            field,
            format!(
                "'{}' is not '*' or an IP address (ACLs match the client's address, not a host name)",
                host.escape_debug()
            ),
        )),
    }
}
