//! One tenant's names: the only place that knows how a name maps.
//!
//! Topics, groups and transactional ids all live under the tenant's prefix. The three entity
//! types share the rule today; [`Entity`] keeps them apart so a rule for one (alias topics, a
//! different group prefix) has a place to go.

use std::sync::Arc;

use kafka_protocol::protocol::StrBytes;

use crate::acl::Acls;
use crate::aliases::{Alias, Aliases};

/// Kafka's limit on a topic name.
pub const MAX_TOPIC_NAME: usize = 249;

/// The kinds of names a tenant owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Topic,
    Group,
    TransactionalId,
}

/// Starts every name [`Tenant::map_on`] gives a topic that does not exist on the domain asked:
/// `!` is not a legal character of a Kafka topic name, so brokers refuse it and never create it.
pub const UNREACHABLE: &str = "!gatehouse-not-on-this-domain!";

/// Which streaming domain a request goes to, or an answer came from, as the tenant sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Domain<'a> {
    /// The tenant's home domain: its own topics, groups, transactional ids, WRITE aliases.
    #[default]
    Home,
    /// Another domain of the route: only the tenant's aliases there exist for it.
    Further(&'a str),
}

impl<'a> Domain<'a> {
    /// The domain's name when it is not the home domain (as [`Alias::domain`] holds it).
    pub fn further(self) -> Option<&'a str> {
        match self {
            Domain::Home => None,
            Domain::Further(d) => Some(d),
        }
    }
}

/// A virtual cluster as the data plane sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Tenant {
    pub name: String,
    pub prefix: String,
    /// Its alias topics (empty for most tenants).
    pub aliases: Aliases,
    /// The streaming domain its virtual cluster declares as home (its own topics, groups,
    /// transactional ids and WRITE aliases); `None`: the domain of the route it is reached by.
    pub home_domain: Option<String>,
    /// Its ACLs and super users when its virtual cluster has `aclEnabled`; `None`: no ACLs are
    /// enforced (the virtual cluster's own names are its only limit).
    pub acls: Option<Arc<Acls>>,
}

/// Why a tenant's name cannot be used upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalName(pub String);

impl Tenant {
    pub fn new(name: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            prefix: prefix.into(),
            aliases: Aliases::default(),
            home_domain: None,
            acls: None,
        }
    }

    /// The same tenant with this declared home domain.
    pub fn with_home_domain(mut self, domain: Option<String>) -> Self {
        self.home_domain = domain;
        self
    }

    /// The same tenant with these ACLs enforced (`None`: none).
    pub fn with_acls(mut self, acls: Option<Arc<Acls>>) -> Self {
        self.acls = acls;
        self
    }

    /// The same tenant with these alias topics.
    pub fn with_aliases(mut self, aliases: Aliases) -> Self {
        self.aliases = aliases;
        self
    }

    /// The upstream name of a tenant's name on its home domain.
    pub fn map(&self, entity: Entity, name: &str) -> StrBytes {
        self.map_on(Domain::Home, entity, name)
    }

    /// The upstream name of a tenant's name on `domain`. A topic that is an alias is its
    /// physical name on the alias's domain; any other topic exists only on the home domain,
    /// under the prefix, and on another domain becomes a name no broker accepts (Kafka's
    /// topic names cannot hold `!`), so a tenant cannot reach a further domain's topics by
    /// naming them.
    pub fn map_on(&self, domain: Domain<'_>, entity: Entity, name: &str) -> StrBytes {
        if entity == Entity::Topic {
            match (self.aliases.get(name), domain) {
                (Some(a), _) if a.domain.as_deref() == domain.further() => {
                    return StrBytes::from_string(a.physical.clone())
                }
                (Some(_), _) | (None, Domain::Further(_)) => {
                    return StrBytes::from_string(format!("{UNREACHABLE}{name}"))
                }
                (None, Domain::Home) => {}
            }
        }
        self.prefixed(name)
    }

    /// `<prefix><name>`, whatever the name.
    pub fn prefixed(&self, name: &str) -> StrBytes {
        let mut s = String::with_capacity(self.prefix.len() + name.len());
        s.push_str(&self.prefix);
        s.push_str(name);
        StrBytes::from_string(s)
    }

    /// The tenant's name for an upstream name of its home domain, or None when the tenant
    /// does not own it.
    pub fn unmap(&self, entity: Entity, upstream: &StrBytes) -> Option<StrBytes> {
        self.unmap_on(Domain::Home, entity, upstream)
    }

    pub fn unmap_on(
        &self,
        domain: Domain<'_>,
        entity: Entity,
        upstream: &StrBytes,
    ) -> Option<StrBytes> {
        self.strip_on(domain, entity, upstream)
            .map(|rest| StrBytes::from_string(rest.to_string()))
    }

    /// [`Tenant::unmap`] without allocating: the tenant's name as a slice of the upstream's
    /// (or of the alias's).
    pub fn strip<'a>(&'a self, entity: Entity, upstream: &'a str) -> Option<&'a str> {
        self.strip_on(Domain::Home, entity, upstream)
    }

    /// The tenant's name for an upstream name of `domain`. On the home domain a prefixed
    /// topic whose name an alias also has is not shown (the alias is): one name, one topic.
    pub fn strip_on<'a>(
        &'a self,
        domain: Domain<'_>,
        entity: Entity,
        upstream: &'a str,
    ) -> Option<&'a str> {
        // Groups and transactional ids are prefixed on every domain: a group's offsets for a
        // further domain's partitions are committed there under the same name.
        if entity != Entity::Topic {
            return upstream.strip_prefix(self.prefix.as_str());
        }
        if let Some(name) = self.aliases.name_of(domain.further(), upstream) {
            return Some(name);
        }
        match domain {
            Domain::Home if self.aliases.is_empty() => upstream.strip_prefix(self.prefix.as_str()),
            Domain::Home => upstream
                .strip_prefix(self.prefix.as_str())
                .filter(|rest| self.aliases.get(rest).is_none()),
            Domain::Further(_) => None,
        }
    }

    pub fn owns(&self, entity: Entity, upstream: &str) -> bool {
        self.strip(entity, upstream).is_some()
    }

    pub fn owns_on(&self, domain: Domain<'_>, entity: Entity, upstream: &str) -> bool {
        self.strip_on(domain, entity, upstream).is_some()
    }

    /// The alias a tenant's topic name denotes, if it is one.
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.get(name)
    }

    /// Whether a tenant's topic name is a legal Kafka topic name once prefixed. Brokers check
    /// this too, but with the prefix's length added a name the client thinks legal may not
    /// be, and the tenant deserves an answer that says so.
    pub fn check_topic(&self, name: &str) -> Result<(), IllegalName> {
        if name.is_empty() {
            return Err(IllegalName("topic name is empty".into()));
        }
        if name == "." || name == ".." {
            return Err(IllegalName(format!("topic name '{name}' is reserved")));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(IllegalName(format!(
                "topic name '{name}' contains '{c}'; legal characters are ASCII letters, digits, '.', '_' and '-'"
            )));
        }
        let max = MAX_TOPIC_NAME.saturating_sub(self.prefix.len());
        if name.len() > max {
            return Err(IllegalName(format!(
                "topic name is {} characters; in virtual cluster '{}' names may have at most {max} \
                 (Kafka's {MAX_TOPIC_NAME} less the {}-character prefix)",
                name.len(),
                self.name,
                self.prefix.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_unmap_owns() {
        let t = Tenant::new("a", "a.");
        let up = t.map(Entity::Topic, "orders");
        assert_eq!(&*up, "a.orders");
        assert!(t.owns(Entity::Topic, &up));
        assert_eq!(t.unmap(Entity::Topic, &up).as_deref(), Some("orders"));
        assert_eq!(
            t.unmap(Entity::Group, &StrBytes::from_static_str("b.orders")),
            None
        );
        // A tenant naming another tenant's upstream name only reaches its own namespace.
        assert_eq!(&*t.map(Entity::Topic, "b.orders"), "a.b.orders");
    }

    #[test]
    fn topic_legality_counts_the_prefix() {
        let t = Tenant::new("acme", "acme.");
        assert!(t.check_topic(&"x".repeat(244)).is_ok());
        let e = t.check_topic(&"x".repeat(245)).unwrap_err();
        assert!(e.0.contains("at most 244"), "{e:?}");
        assert!(t.check_topic("a/b").is_err());
        assert!(t.check_topic("").is_err());
        assert!(t.check_topic("..").is_err());
    }
}
