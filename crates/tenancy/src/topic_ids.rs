//! Which upstream topic a topic id names.
//!
//! Ids are global to a cluster, so one directory serves every tenant of a streaming domain.
//! It is filled from responses that carry an id beside its upstream name (Metadata,
//! CreateTopics, DescribeTopicPartitions, DeleteTopics) before they are filtered, so a tenant's
//! request by id can be checked against the name the id stands for. An id never changes
//! names (a re-created topic gets a new id), so entries never go stale; the directory is
//! bounded by clearing it when full, after which ids are learned again.

use dashmap::DashMap;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub struct TopicIds {
    names: DashMap<Uuid, StrBytes>,
}

impl TopicIds {
    pub fn learn(&self, id: Uuid, upstream_name: &StrBytes) {
        if id.is_nil() {
            return;
        }
        if self.names.len() >= MAX_ENTRIES {
            self.names.clear();
        }
        self.names.insert(id, upstream_name.clone());
    }

    pub fn forget(&self, id: Uuid) {
        self.names.remove(&id);
    }

    /// The upstream name of a topic id, if known.
    pub fn name(&self, id: Uuid) -> Option<StrBytes> {
        self.names.get(&id).map(|n| n.clone())
    }
}
