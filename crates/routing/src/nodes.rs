//! Virtual node ids: the node-id space a route's clients see.
//!
//! A route owns its clients' node ids. Its **home domain** (`streamingDomain`) keeps its
//! upstream ids unchanged, so a route with one domain is the identity: today's ids and ports,
//! no client or configuration change. Each **additional domain**
//! (`additionalStreamingDomains[]`) gets a virtual range declared in configuration,
//! `virtualNodeIdStart ..= virtualNodeIdStart + (ids in its nodeIdRanges) - 1`, numbered in the
//! order its `nodeIdRanges` are written:
//!
//! ```text
//! virtual(domain, upstream) = virtualNodeIdStart + ordinal(upstream in the domain's nodeIdRanges)
//! ```
//!
//! So two domains whose only broker is node 111 (every Tansu broker is) become 111 (home) and,
//! say, 1000 (additional, `virtualNodeIdStart: 1000`). The map depends only on configuration,
//! so it is stable across restarts (clients cache node ids).
//!
//! The map is a bijection between
//! * home ids outside every additional domain's virtual range ↔ themselves, and
//! * an additional domain's ids inside its `nodeIdRanges` ↔ its virtual range.
//!
//! Negative ids are not node ids but markers (-1: no leader, or "a consumer, not a follower"
//! in a replica id): they are never translated. An id outside the bijection has no virtual
//! id; the rewriters drop it from lists and answer "no leader" where one id was expected.

use crate::broker_map::{NodeIdRange, Target};

/// One domain behind a route, besides its home domain, with its virtual range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalDomain {
    pub domain: String,
    /// The listener (`bootstrapServerId`) the gateway uses to reach it.
    pub listener: String,
    /// The domain's own `nodeIdRanges`, in configured order.
    pub upstream_ranges: Vec<NodeIdRange>,
    /// The virtual id of the first node of its first range.
    pub virtual_start: i32,
}

impl AdditionalDomain {
    /// How many node ids the domain declares (the size of its virtual range).
    pub fn node_count(&self) -> u32 {
        self.upstream_ranges.iter().map(NodeIdRange::len).sum()
    }

    /// Its virtual range as a [`NodeIdRange`] named after the domain.
    pub fn virtual_range(&self) -> NodeIdRange {
        NodeIdRange {
            name: self.domain.clone(),
            start: self.virtual_start,
            end: self.virtual_end(),
        }
    }

    fn virtual_end(&self) -> i32 {
        self.virtual_start + self.node_count() as i32 - 1
    }

    /// Whether a virtual id is in its range (no allocation: on every id mapped).
    fn holds_virtual(&self, id: i32) -> bool {
        (self.virtual_start..=self.virtual_end()).contains(&id)
    }

    fn to_virtual(&self, upstream: i32) -> Option<i32> {
        let mut ordinal = 0u32;
        for r in &self.upstream_ranges {
            if (r.start..=r.end).contains(&upstream) {
                return Some(self.virtual_start + (ordinal + (upstream - r.start) as u32) as i32);
            }
            ordinal += r.len();
        }
        None
    }

    fn to_upstream(&self, virtual_id: i32) -> Option<i32> {
        let mut ordinal = u32::try_from(virtual_id.checked_sub(self.virtual_start)?).ok()?;
        for r in &self.upstream_ranges {
            if ordinal < r.len() {
                return Some(r.start + ordinal as i32);
            }
            ordinal -= r.len();
        }
        None
    }
}

/// (streaming domain, upstream node id) ↔ virtual node id, for one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMap {
    home: String,
    home_listener: String,
    home_ranges: Vec<NodeIdRange>,
    additional: Vec<AdditionalDomain>,
}

/// Where a client connection's broker lives upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTarget<'a> {
    pub domain: &'a str,
    /// The listener id (`bootstrapServerId`) to reach it through.
    pub listener: &'a str,
    /// `Bootstrap`, or the upstream's own node id.
    pub target: Target,
}

impl NodeMap {
    /// The identity: a route whose clients see only its home domain.
    pub fn single(domain: &str, listener: &str, ranges: Vec<NodeIdRange>) -> Self {
        Self::new(domain, listener, ranges, Vec::new())
    }

    /// `additional` must be validated: its virtual ranges are disjoint from `home_ranges` and
    /// from each other, and none is the home domain (the configuration loader checks this).
    pub fn new(
        domain: &str,
        listener: &str,
        home_ranges: Vec<NodeIdRange>,
        additional: Vec<AdditionalDomain>,
    ) -> Self {
        Self {
            home: domain.to_string(),
            home_listener: listener.to_string(),
            home_ranges,
            additional,
        }
    }

    /// True when no id changes: the route sees one domain. Rewriters then touch no node id
    /// (and need not decode anything for one).
    pub fn is_identity(&self) -> bool {
        self.additional.is_empty()
    }

    pub fn home(&self) -> &str {
        &self.home
    }

    pub fn additional(&self) -> &[AdditionalDomain] {
        &self.additional
    }

    /// Every virtual id a client may see, as ranges: the home domain's own ranges first, then
    /// each additional domain's virtual range in configured order. Ports are handed out in
    /// this order ([`crate::BrokerMap`]), so the home domain's ports are today's.
    pub fn virtual_ranges(&self) -> Vec<NodeIdRange> {
        let mut ranges = self.home_ranges.clone();
        ranges.extend(self.additional.iter().map(AdditionalDomain::virtual_range));
        ranges
    }

    /// The virtual id of a domain's upstream node, or `None` when it has none (an id outside
    /// the domain's `nodeIdRanges`, or a home id that an additional domain's range shadows).
    /// Negative ids are markers and come back unchanged.
    pub fn to_virtual(&self, domain: &str, upstream: i32) -> Option<i32> {
        if upstream < 0 {
            return Some(upstream);
        }
        if domain == self.home {
            return (!self.in_additional_range(upstream)).then_some(upstream);
        }
        self.additional
            .iter()
            .find(|a| a.domain == domain)?
            .to_virtual(upstream)
    }

    /// The domain and upstream id behind a virtual id. `None` for an id in an additional
    /// domain's virtual range that its ranges do not fill (cannot happen with validated
    /// ranges). Ids outside every additional range are the home domain's; negative ids are
    /// markers and come back unchanged, as the home domain's.
    pub fn to_upstream(&self, virtual_id: i32) -> Option<(&str, i32)> {
        if virtual_id >= 0 {
            if let Some(a) = self.additional.iter().find(|a| a.holds_virtual(virtual_id)) {
                return a.to_upstream(virtual_id).map(|id| (a.domain.as_str(), id));
            }
        }
        Some((self.home.as_str(), virtual_id))
    }

    /// Only the upstream id, whichever domain it belongs to (requests: the router chose the
    /// domain). Ids without one pass unchanged.
    pub(crate) fn upstream_id(&self, virtual_id: i32) -> i32 {
        self.to_upstream(virtual_id)
            .map_or(virtual_id, |(_, id)| id)
    }

    /// Where a client connection accepted on `target` (its route's bootstrap port or a
    /// virtual broker port) must go: the bootstrap port is the home domain's bootstrap.
    pub fn resolve(&self, target: Target) -> Option<UpstreamTarget<'_>> {
        let Target::Node(virtual_id) = target else {
            return Some(UpstreamTarget {
                domain: &self.home,
                listener: &self.home_listener,
                target: Target::Bootstrap,
            });
        };
        let (domain, id) = self.to_upstream(virtual_id)?;
        let listener = if domain == self.home {
            &self.home_listener
        } else {
            &self
                .additional
                .iter()
                .find(|a| a.domain == domain)?
                .listener
        };
        Some(UpstreamTarget {
            domain,
            listener,
            target: Target::Node(id),
        })
    }

    fn in_additional_range(&self, id: i32) -> bool {
        self.additional.iter().any(|a| a.holds_virtual(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i32, end: i32) -> NodeIdRange {
        NodeIdRange {
            name: format!("r{start}"),
            start,
            end,
        }
    }

    fn two_domains() -> NodeMap {
        NodeMap::new(
            "home",
            "internal",
            vec![range(111, 111)],
            vec![AdditionalDomain {
                domain: "other".into(),
                listener: "tls".into(),
                upstream_ranges: vec![range(111, 111), range(200, 201)],
                virtual_start: 1000,
            }],
        )
    }

    #[test]
    fn single_domain_is_the_identity_for_every_id() {
        let m = NodeMap::single("d", "l", vec![range(0, 5)]);
        assert!(m.is_identity());
        for id in [-1, 0, 5, 77, i32::MAX] {
            assert_eq!(m.to_virtual("d", id), Some(id));
            assert_eq!(m.to_upstream(id), Some(("d", id)));
        }
        assert_eq!(m.virtual_ranges(), vec![range(0, 5)]);
    }

    #[test]
    fn both_node_111s_get_distinct_virtual_ids_and_map_back() {
        let m = two_domains();
        assert!(!m.is_identity());
        assert_eq!(m.to_virtual("home", 111), Some(111));
        assert_eq!(m.to_virtual("other", 111), Some(1000));
        assert_eq!(m.to_virtual("other", 200), Some(1001));
        assert_eq!(m.to_virtual("other", 201), Some(1002));
        assert_eq!(m.to_upstream(111), Some(("home", 111)));
        assert_eq!(m.to_upstream(1000), Some(("other", 111)));
        assert_eq!(m.to_upstream(1002), Some(("other", 201)));
        assert_eq!(
            m.virtual_ranges()[1].start..=m.virtual_ranges()[1].end,
            1000..=1002
        );
    }

    #[test]
    fn ids_outside_the_bijection_have_no_virtual_id() {
        let m = two_domains();
        // An additional domain's id outside its ranges, a home id its range would shadow,
        // an unknown domain.
        assert_eq!(m.to_virtual("other", 150), None);
        assert_eq!(m.to_virtual("home", 1001), None);
        assert_eq!(m.to_virtual("nowhere", 1), None);
        assert_eq!(m.to_virtual("other", -1), Some(-1), "markers pass");
        assert_eq!(m.to_upstream(-1), Some(("home", -1)));
    }

    #[test]
    fn a_virtual_port_resolves_to_its_domain_listener_and_upstream_id() {
        let m = two_domains();
        let at = |t| m.resolve(t).map(|u| (u.domain, u.listener, u.target));
        assert_eq!(
            at(Target::Bootstrap),
            Some(("home", "internal", Target::Bootstrap))
        );
        assert_eq!(
            at(Target::Node(111)),
            Some(("home", "internal", Target::Node(111)))
        );
        assert_eq!(
            at(Target::Node(1001)),
            Some(("other", "tls", Target::Node(200)))
        );
    }
}
