//! One tenant's names: the only place that knows how a name maps.
//!
//! Topics, groups and transactional ids all live under the tenant's prefix. The three entity
//! types share the rule today; [`Entity`] keeps them apart so a rule for one (alias topics, a
//! different group prefix) has a place to go.

use kafka_protocol::protocol::StrBytes;

use crate::aliases::Aliases;

/// Kafka's limit on a topic name.
pub const MAX_TOPIC_NAME: usize = 249;

/// The kinds of names a tenant owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Topic,
    Group,
    TransactionalId,
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
        }
    }

    /// The same tenant with this declared home domain.
    pub fn with_home_domain(mut self, domain: Option<String>) -> Self {
        self.home_domain = domain;
        self
    }

    /// The same tenant with these alias topics.
    pub fn with_aliases(mut self, aliases: Aliases) -> Self {
        self.aliases = aliases;
        self
    }

    /// The upstream name of a tenant's name.
    pub fn map(&self, _entity: Entity, name: &str) -> StrBytes {
        let mut s = String::with_capacity(self.prefix.len() + name.len());
        s.push_str(&self.prefix);
        s.push_str(name);
        StrBytes::from_string(s)
    }

    /// The tenant's name for an upstream name, or None when the tenant does not own it.
    pub fn unmap(&self, entity: Entity, upstream: &StrBytes) -> Option<StrBytes> {
        self.strip(entity, upstream)
            .map(|rest| StrBytes::from_string(rest.to_string()))
    }

    /// [`Tenant::unmap`] without allocating: the tenant's name as a slice of the upstream's.
    pub fn strip<'a>(&self, _entity: Entity, upstream: &'a str) -> Option<&'a str> {
        upstream.strip_prefix(self.prefix.as_str())
    }

    pub fn owns(&self, _entity: Entity, upstream: &str) -> bool {
        upstream.starts_with(self.prefix.as_str())
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
