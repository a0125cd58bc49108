//! CreateAcls, DescribeAcls and DeleteAcls from a tenant, answered by the gateway from its
//! virtual cluster's own ACLs (never forwarded: the upstream's ACLs are the gateway's, not
//! the tenant's). No I/O: [`parse`] says what a request asks, the proxy has the store apply
//! an [`AclChange`] (with [`AclChange::apply`], inside one store transaction), and the
//! `*_response` functions build the answers.
//!
//! Names are the tenant's own, as in `VirtualCluster.spec.acls`: `kafka-acls --topic orders`
//! in virtual cluster `acme` is the entry `TOPIC orders`, which covers the upstream topic
//! `acme.orders` or the alias `orders`.

use std::net::IpAddr;

use bytes::Bytes;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{decode_request, encode_response, CodecResult};

use super::{
    AclEntry, AclHost, AclPrincipal, Acls, ClientAcls, Operation, PatternType, Permission,
    ResourceType, CLUSTER_NAME,
};

/// Kafka's filter codes for "any value".
const ANY: i8 = 1;
/// The pattern filter that matches the patterns covering a name (LITERAL, `*`, PREFIXED).
const MATCH: i8 = 2;

/// What a filter of DescribeAcls or DeleteAcls selects (None: any value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

/// How a filter's name selects patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    Any,
    /// Every pattern that covers the name.
    Match,
    Exactly(PatternType),
}

impl AclFilter {
    /// Whether the filter selects `e` (Kafka's AclBindingFilter).
    pub fn matches(&self, e: &AclEntry) -> bool {
        let name_ok = match (&self.name, self.pattern) {
            (None, PatternFilter::Any | PatternFilter::Match) => true,
            (None, PatternFilter::Exactly(p)) => e.pattern == p,
            (Some(n), PatternFilter::Any) => e.name == *n,
            (Some(n), PatternFilter::Exactly(p)) => e.pattern == p && e.name == *n,
            (Some(n), PatternFilter::Match) => e.covers(n),
        };
        name_ok
            && self.resource_type.is_none_or(|t| t == e.resource_type)
            && self
                .principal
                .as_ref()
                .is_none_or(|p| *p == e.principal.to_string())
            && self.host.as_ref().is_none_or(|h| *h == e.host.to_string())
            && self.operation.is_none_or(|o| o == e.operation)
            && self.permission.is_none_or(|p| p == e.permission)
    }
}

/// A change to a virtual cluster's ACLs asked through the Kafka API.
#[derive(Debug, Clone)]
pub enum AclChange {
    /// Add these entries (those already there stay once).
    Create(Vec<AclEntry>),
    /// Remove every entry a filter selects.
    Delete(Vec<AclFilter>),
}

impl AclChange {
    /// Applies the change to `entries`; for a delete, the entries each filter removed.
    pub fn apply(&self, entries: &mut Vec<AclEntry>) -> Vec<Vec<AclEntry>> {
        match self {
            AclChange::Create(new) => {
                for e in new {
                    if !entries.contains(e) {
                        entries.push(e.clone());
                    }
                }
                Vec::new()
            }
            AclChange::Delete(filters) => {
                let matched: Vec<Vec<AclEntry>> = (filters.iter())
                    .map(|f| entries.iter().filter(|e| f.matches(e)).cloned().collect())
                    .collect();
                entries.retain(|e| !filters.iter().any(|f| f.matches(e)));
                matched
            }
        }
    }
}

/// What an ACL request asks, once read.
#[derive(Debug)]
pub enum AclRequest {
    /// Answered at once from the ACLs in force.
    Answer(Bytes),
    /// A change for the store to make; its answer is [`answer_change`]'s.
    Change {
        change: AclChange,
        /// Per creation, its refusal (None: it is in the change).
        refused: Vec<Option<(ResponseError, String)>>,
    },
}

/// Reads an ACL request of a tenant session: refused whole (SECURITY_DISABLED when the
/// virtual cluster does not enforce ACLs; CLUSTER_AUTHORIZATION_FAILED unless the client is a
/// super user or may DESCRIBE, for DescribeAcls, or ALTER the cluster), answered (DescribeAcls)
/// or a change to make.
pub fn parse(
    vcluster: &str,
    acls: Option<&Acls>,
    client: Option<&ClientAcls>,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: &Bytes,
) -> CodecResult<AclRequest> {
    let refused_whole = match (acls, client) {
        (None, _) => Some((
            ResponseError::SecurityDisabled,
            format!("virtual cluster '{vcluster}' does not enforce ACLs: set spec.aclEnabled: true on it to manage them"),
        )),
        (Some(_), Some(c)) => {
            let needs = if key == ApiKey::DescribeAcls { Operation::Describe } else { Operation::Alter };
            (!c.allows_on_cluster(needs)).then(|| {
                (
                    ResponseError::ClusterAuthorizationFailed,
                    format!(
                        "User:{} may not {needs} the cluster of virtual cluster '{vcluster}': only its super users, or principals an ACL allows {needs} on CLUSTER, manage its ACLs",
                        c.principal()
                    ),
                )
            })
        }
        (Some(_), None) => None, // a super user
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let answer = |frame: CodecResult<Bytes>| frame.map(AclRequest::Answer);
    match key {
        ApiKey::DescribeAcls => {
            let (_, r) = decode_request::<DescribeAclsRequest>(frame)?;
            if let Some((e, m)) = refused_whole {
                return answer(encode_response(
                    &header,
                    &error_describe(e, m),
                    key,
                    version,
                ));
            }
            let body = match filter_of(
                r.resource_type_filter,
                r.resource_name_filter,
                r.pattern_type_filter,
                r.principal_filter,
                r.host_filter,
                r.operation,
                r.permission_type,
            ) {
                Err(m) => error_describe(ResponseError::InvalidRequest, m),
                Ok(f) => describe(acls.expect("checked").entries(), &f),
            };
            answer(encode_response(&header, &body, key, version))
        }
        ApiKey::CreateAcls => {
            let (_, r) = decode_request::<CreateAclsRequest>(frame)?;
            if let Some((e, m)) = refused_whole {
                let results = r
                    .creations
                    .iter()
                    .map(|_| creation_result(Some((e, m.clone()))));
                let body = CreateAclsResponse::default().with_results(results.collect());
                return answer(encode_response(&header, &body, key, version));
            }
            let (mut entries, mut refused) = (Vec::new(), Vec::new());
            for c in r.creations {
                match entry_of(c) {
                    Ok(e) => {
                        entries.push(e);
                        refused.push(None);
                    }
                    Err(m) => refused.push(Some((ResponseError::InvalidRequest, m))),
                }
            }
            Ok(AclRequest::Change {
                change: AclChange::Create(entries),
                refused,
            })
        }
        ApiKey::DeleteAcls => {
            let (_, r) = decode_request::<DeleteAclsRequest>(frame)?;
            let filters: Result<Vec<AclFilter>, String> = (r.filters.into_iter())
                .map(|f| {
                    filter_of(
                        f.resource_type_filter,
                        f.resource_name_filter,
                        f.pattern_type_filter,
                        f.principal_filter,
                        f.host_filter,
                        f.operation,
                        f.permission_type,
                    )
                })
                .collect();
            let refusal = refused_whole.or_else(|| {
                filters
                    .as_ref()
                    .err()
                    .map(|m| (ResponseError::InvalidRequest, m.clone()))
            });
            if let Some((e, m)) = refusal {
                let n = filters.as_ref().map_or(1, Vec::len).max(1);
                let results = (0..n).map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_string(m.clone())))
                });
                let body = DeleteAclsResponse::default().with_filter_results(results.collect());
                return answer(encode_response(&header, &body, key, version));
            }
            Ok(AclRequest::Change {
                change: AclChange::Delete(filters.expect("checked")),
                refused: Vec::new(),
            })
        }
        other => anyhow::bail!("{other:?} is not an ACL key"),
    }
}

/// The answer once the store made the change (`Ok`: what each delete filter removed) or
/// failed to (`Err`: why, e.g. the store is unavailable; every entry carries it).
pub fn answer_change(
    change: &AclChange,
    refused: Vec<Option<(ResponseError, String)>>,
    correlation_id: i32,
    key: ApiKey,
    version: i16,
    outcome: Result<Vec<Vec<AclEntry>>, String>,
) -> CodecResult<Bytes> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let failed = |m: &String| Some((ResponseError::UnknownServerError, m.clone()));
    match change {
        AclChange::Create(_) => {
            let results = refused
                .into_iter()
                .map(|r| creation_result(r.or_else(|| outcome.as_ref().err().and_then(failed))));
            let body = CreateAclsResponse::default().with_results(results.collect());
            encode_response(&header, &body, key, version)
        }
        AclChange::Delete(filters) => {
            let results: Vec<DeleteAclsFilterResult> = match outcome {
                Err(m) => (filters.iter())
                    .map(|_| {
                        DeleteAclsFilterResult::default()
                            .with_error_code(ResponseError::UnknownServerError.code())
                            .with_error_message(Some(StrBytes::from_string(m.clone())))
                    })
                    .collect(),
                Ok(matched) => (matched.into_iter())
                    .map(|es| {
                        DeleteAclsFilterResult::default()
                            .with_matching_acls(es.iter().map(matching_acl).collect())
                    })
                    .collect(),
            };
            let body = DeleteAclsResponse::default().with_filter_results(results);
            encode_response(&header, &body, key, version)
        }
    }
}

fn creation_result(refused: Option<(ResponseError, String)>) -> AclCreationResult {
    match refused {
        None => AclCreationResult::default(),
        Some((e, m)) => AclCreationResult::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(m))),
    }
}

fn error_describe(e: ResponseError, m: String) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(e.code())
        .with_error_message(Some(StrBytes::from_string(m)))
}

/// The entries a filter selects, grouped by resource pattern as Kafka answers them.
fn describe(entries: &[AclEntry], f: &AclFilter) -> DescribeAclsResponse {
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for e in entries.iter().filter(|e| f.matches(e)) {
        let description = AclDescription::default()
            .with_principal(StrBytes::from_string(e.principal.to_string()))
            .with_host(StrBytes::from_string(e.host.to_string()))
            .with_operation(e.operation.code())
            .with_permission_type(e.permission.code());
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == e.resource_type.code()
                && r.pattern_type == e.pattern.code()
                && *r.resource_name == *e.name
        };
        match resources.iter_mut().find(same) {
            Some(r) => r.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(e.resource_type.code())
                    .with_resource_name(StrBytes::from_string(e.name.clone()))
                    .with_pattern_type(e.pattern.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

fn matching_acl(e: &AclEntry) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(e.resource_type.code())
        .with_resource_name(StrBytes::from_string(e.name.clone()))
        .with_pattern_type(e.pattern.code())
        .with_principal(StrBytes::from_string(e.principal.to_string()))
        .with_host(StrBytes::from_string(e.host.to_string()))
        .with_operation(e.operation.code())
        .with_permission_type(e.permission.code())
}

/// One creation as an entry, or why it cannot be one (the error says what to change).
fn entry_of(c: create_acls_request::AclCreation) -> Result<AclEntry, String> {
    let resource_type = ResourceType::from_code(c.resource_type).ok_or_else(|| {
        format!(
            "resource type {} cannot be managed in a virtual cluster (one of {})",
            c.resource_type,
            ResourceType::names()
        )
    })?;
    let pattern = PatternType::from_code(c.resource_pattern_type).ok_or_else(|| {
        format!(
            "pattern type {} cannot be created (LITERAL or PREFIXED)",
            c.resource_pattern_type
        )
    })?;
    let name = c.resource_name.to_string();
    if name.is_empty() || name.len() > 255 {
        return Err("the resource name must be 1 to 255 characters long".into());
    }
    if resource_type == ResourceType::Cluster && name != CLUSTER_NAME {
        return Err(format!("the CLUSTER resource is named '{CLUSTER_NAME}'"));
    }
    let principal = AclPrincipal::parse(&c.principal).ok_or_else(|| {
        format!(
            "principal '{}': expected User:<name> or User:*",
            c.principal
        )
    })?;
    let host = AclHost::parse(&c.host)
        .ok_or_else(|| format!("host '{}': expected * or an IP address", c.host))?;
    let operation = Operation::from_code(c.operation).ok_or_else(|| {
        format!(
            "operation {} is not one of {}",
            c.operation,
            Operation::names()
        )
    })?;
    let permission = Permission::from_code(c.permission_type)
        .ok_or_else(|| format!("permission type {} is not ALLOW or DENY", c.permission_type))?;
    Ok(AclEntry {
        resource_type,
        name,
        pattern,
        principal,
        host,
        operation,
        permission,
    })
}

/// A filter of DescribeAcls or DeleteAcls, or why its codes are not one.
fn filter_of(
    resource_type: i8,
    name: Option<StrBytes>,
    pattern: i8,
    principal: Option<StrBytes>,
    host: Option<StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, String> {
    let any_or = |code: i8, what: &str, parse: &dyn Fn(i8) -> bool| {
        if code == ANY || parse(code) {
            Ok(())
        } else {
            Err(format!("{what} filter {code} is not a known value or ANY"))
        }
    };
    any_or(resource_type, "resource type", &|c| {
        ResourceType::from_code(c).is_some()
    })?;
    any_or(operation, "operation", &|c| {
        Operation::from_code(c).is_some()
    })?;
    any_or(permission, "permission type", &|c| {
        Permission::from_code(c).is_some()
    })?;
    let pattern = match pattern {
        ANY => PatternFilter::Any,
        MATCH => PatternFilter::Match,
        p => PatternFilter::Exactly(
            PatternType::from_code(p)
                .ok_or_else(|| format!("pattern type filter {p} is not a known value"))?,
        ),
    };
    Ok(AclFilter {
        resource_type: ResourceType::from_code(resource_type),
        name: name.map(|n| n.to_string()),
        pattern,
        principal: principal.map(|p| p.to_string()),
        // Kafka compares hosts as written: an address in its canonical form.
        host: host.map(|h| match h.parse::<IpAddr>() {
            Ok(a) => a.to_canonical().to_string(),
            Err(_) => h.to_string(),
        }),
        operation: Operation::from_code(operation),
        permission: Permission::from_code(permission),
    })
}
