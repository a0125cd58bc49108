//! `AliasTopic`: a name inside a virtual cluster for a physical topic of some streaming domain,
//! outside the tenant's prefix (Conduktor's shape: `metadata: {name, vCluster}`,
//! `spec: {physicalName, physicalCluster, access}`). This module checks what one document can
//! say on its own; the rules between resources (its virtual cluster, other aliases, the home
//! domain) are the snapshot's, the configured streaming domains the write path's.

use serde::{Deserialize, Serialize};

use super::{check_vcluster_name, invalid, PASSTHROUGH};
use crate::StoreError;

/// Kafka's limit on a topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Longest streaming domain name accepted in a resource (the configuration names domains).
pub const MAX_DOMAIN_NAME_LEN: usize = 255;

/// What a topic name (an alias's own name, a physical name) may be, in words.
pub const TOPIC_NAME_RULE: &str = "1 to 249 of the letters a-z A-Z, digits, '.', '_' and '-' (Kafka's topic name rule), and not '.' or '..'";

/// What a tenant may do with an alias topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AliasAccess {
    /// Consume, describe, commit offsets; nothing that writes to or changes the topic.
    #[default]
    Read,
    /// Also produce. Only on the virtual cluster's home domain.
    Write,
}

/// An alias topic of a virtual cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTopic {
    /// The tenant's name for the topic.
    pub name: String,
    pub vcluster: String,
    /// The topic's name on its streaming domain.
    pub physical_name: String,
    /// The streaming domain holding it; `None`: the virtual cluster's home domain.
    pub physical_cluster: Option<String>,
    pub access: AliasAccess,
}

impl AliasTopic {
    /// The domain the alias points at, given its virtual cluster's declared home domain: its
    /// `physicalCluster`, else the home domain; `None` when neither is set (the domain of the
    /// route the client connects through).
    pub fn domain<'a>(&'a self, home_domain: Option<&'a str>) -> Option<&'a str> {
        self.physical_cluster.as_deref().or(home_domain)
    }

    /// The domain as the data plane is told it: `None` for the home domain (unset, or equal to
    /// the declared home domain), else the domain's name.
    pub fn off_home_domain<'a>(&'a self, home_domain: Option<&str>) -> Option<&'a str> {
        self.physical_cluster
            .as_deref()
            .filter(|d| Some(*d) != home_domain)
    }
}

/// Why `name` is not a legal Kafka topic name (None: it is one).
pub fn topic_name_problem(name: &str) -> Option<String> {
    let problem = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        format!("is {} characters long", name.len())
    } else if name == "." || name == ".." {
        format!("'{name}' is not a topic name")
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!("'{}' holds the character {c:?}", name.escape_debug())
    } else {
        return None;
    };
    Some(format!("{problem}: a topic name is {TOPIC_NAME_RULE}"))
}

/// Checks a topic name; the error names `field`.
pub(crate) fn check_topic_name(field: &str, name: &str) -> Result<(), StoreError> {
    match topic_name_problem(name) {
        Some(p) => Err(invalid(field, p)),
        None => Ok(()),
    }
}

/// Checks the form of a streaming domain name (whether one is configured is checked when the
/// resource is written).
pub(crate) fn check_domain_name(field: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_DOMAIN_NAME_LEN {
        return Err(invalid(
            field,
            format!("a streaming domain name has 1 to {MAX_DOMAIN_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(invalid(
            field,
            format!(
                "'{}' is not a streaming domain name (control characters, or leading or trailing spaces)",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct AliasTopicDoc {
    pub(super) api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: super::ScopedMetadata,
    spec: AliasTopicSpecDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AliasTopicSpecDoc {
    physical_name: String,
    physical_cluster: Option<String>,
    #[serde(default)]
    access: AliasAccess,
}

impl AliasTopicDoc {
    pub(super) fn build(self) -> Result<AliasTopic, StoreError> {
        let name = self.metadata.name;
        check_topic_name("metadata.name", &name)?;
        let vcluster = self
            .metadata
            .v_cluster
            .unwrap_or_else(|| PASSTHROUGH.into());
        if vcluster == PASSTHROUGH {
            return Err(invalid(
                "metadata.vCluster",
                format!(
                    "'{PASSTHROUGH}' sees the upstream cluster as it is and has no alias topics: name a virtual cluster"
                ),
            ));
        }
        check_vcluster_name("metadata.vCluster", &vcluster)?;
        let s = self.spec;
        check_topic_name("spec.physicalName", &s.physical_name)?;
        if let Some(d) = &s.physical_cluster {
            check_domain_name("spec.physicalCluster", d)?;
        }
        Ok(AliasTopic {
            name,
            vcluster,
            physical_name: s.physical_name,
            physical_cluster: s.physical_cluster,
            access: s.access,
        })
    }
}
