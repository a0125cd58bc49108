//! Alias topics: names inside a virtual cluster that point at a physical topic on some
//! streaming domain, outside the tenant's prefix.
//!
//! An alias is looked up both ways: by the tenant's name on requests, by (domain, physical
//! name) on responses. Two aliases of one tenant may not point at the same physical topic of
//! the same domain (the answer could not say which name to show); the store refuses that, and
//! [`Aliases::new`] keeps the first if it is ever given both.

use std::collections::HashMap;

/// What a tenant may do with an alias topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Consume, describe and commit offsets: nothing that writes to or changes the topic.
    #[default]
    Read,
    /// Also produce. Only on the tenant's home domain (producer ids and transactions are
    /// issued per cluster).
    Write,
}

/// One alias topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The tenant's name for it.
    pub name: String,
    /// The topic's name upstream.
    pub physical: String,
    /// The streaming domain holding it; `None` is the tenant's home domain.
    pub domain: Option<String>,
    pub access: Access,
}

/// A tenant's alias topics, indexed both ways.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    by_name: HashMap<String, Alias>,
    /// Domain ("" for the home domain) → physical name → the tenant's name: two levels, so
    /// a response's names are looked up by `&str` without building a key.
    by_physical: HashMap<String, HashMap<String, String>>,
    /// The further domains that hold aliases, sorted, each once.
    further_domains: Vec<String>,
}

impl Aliases {
    pub fn new(aliases: impl IntoIterator<Item = Alias>) -> Self {
        let mut out = Self::default();
        for a in aliases {
            let domain = a.domain.clone().unwrap_or_default();
            let physical = out.by_physical.entry(domain).or_default();
            if out.by_name.contains_key(&a.name) || physical.contains_key(&a.physical) {
                continue;
            }
            physical.insert(a.physical.clone(), a.name.clone());
            out.by_name.insert(a.name.clone(), a);
        }
        let mut further: Vec<String> = out
            .by_name
            .values()
            .filter_map(|a| a.domain.clone())
            .collect();
        further.sort();
        further.dedup();
        out.further_domains = further;
        out
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The alias a tenant's topic name denotes, if it is one.
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.by_name.get(name)
    }

    /// The tenant's name for a physical topic of a domain (`None`: the home domain).
    pub fn name_of(&self, domain: Option<&str>, physical: &str) -> Option<&str> {
        if self.by_physical.is_empty() {
            return None; // (most tenants: no hashing on their response path)
        }
        let names = self.by_physical.get(domain.unwrap_or_default())?;
        names.get(physical).map(String::as_str)
    }

    /// The further domains that hold aliases (sorted, each once); empty when every alias is
    /// on the home domain.
    pub fn further_domains(&self) -> &[String] {
        &self.further_domains
    }

    /// The aliases on further domains.
    pub fn further(&self) -> impl Iterator<Item = &Alias> {
        self.by_name.values().filter(|a| a.domain.is_some())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Alias> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(name: &str, physical: &str, domain: Option<&str>) -> Alias {
        Alias {
            name: name.into(),
            physical: physical.into(),
            domain: domain.map(str::to_string),
            access: Access::Read,
        }
    }

    #[test]
    fn looked_up_both_ways_and_per_domain() {
        let a = Aliases::new([
            alias("orders", "sales.orders", None),
            alias("returns", "returns", Some("d2")),
        ]);
        assert_eq!(a.get("orders").unwrap().physical, "sales.orders");
        assert_eq!(a.name_of(None, "sales.orders"), Some("orders"));
        assert_eq!(a.name_of(Some("d2"), "returns"), Some("returns"));
        // The same physical name on another domain is not the alias.
        assert_eq!(a.name_of(None, "returns"), None);
        assert_eq!(a.get("sales.orders"), None);
    }

    #[test]
    fn a_duplicate_keeps_the_first() {
        let a = Aliases::new([
            alias("x", "p", None),
            alias("y", "p", None),
            alias("x", "q", None),
        ]);
        assert_eq!(a.len(), 1);
        assert_eq!(a.name_of(None, "p"), Some("x"));
    }
}
