//! The one table of every field that carries a node id, in both directions, for every API key
//! the gateway forwards (`gatehouse_protocol::versions::FORWARDED_KEYS`).
//!
//! Requests carry the client's (virtual) ids and are mapped virtual → upstream
//! ([`NodeMap::map_request`](crate::nodes::NodeMap::map_request)); responses carry the
//! upstream's and are mapped upstream → virtual ([`crate::rewrite`]). A route whose
//! [`NodeMap`](crate::nodes::NodeMap) is the identity maps nothing: requests are never decoded
//! for it, and responses only when an address must change, as before.
//! [`needs_request_rewrite`] and [`needs_response_rewrite`] read this table, so a row added
//! here is decoded for (the mapping code refuses such a message if it has no arm for it), and
//! the golden tests (`tests/node_ids_golden.rs`) match on [`NodeField`] exhaustively, so a row
//! without a case does not compile.
//!
//! Forwarded keys that carry **no** node id (reviewed against kafka-protocol 0.18 / Kafka 4.1
//! schemas: no `BrokerId` field, no resource name that can name a broker): OffsetCommit,
//! OffsetFetch, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups and
//! ConsumerGroupDescribe (member hosts are client addresses), ListGroups, SaslHandshake,
//! SaslAuthenticate, ApiVersions, DeleteTopics, DeleteRecords, InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeAcls, CreateAcls,
//! DeleteAcls (ACL resources are topics, groups, the cluster, transactional ids, tokens, users:
//! never a broker; ACL hosts are client addresses), AlterReplicaLogDirs and DescribeLogDirs
//! (they address the broker of their connection, by no id), CreatePartitions' and
//! CreateTopics' responses, the delegation-token keys, DeleteGroups, ElectLeaders (partition
//! results only), OffsetDelete, DescribeClientQuotas, AlterClientQuotas,
//! DescribeUserScramCredentials, AlterUserScramCredentials, UpdateFeatures, DescribeProducers
//! (producer state only), DescribeTransactions, ListTransactions, ConsumerGroupHeartbeat,
//! GetTelemetrySubscriptions, PushTelemetry, and the requests of Metadata, FindCoordinator,
//! DescribeCluster, Produce, DescribeTopicPartitions and ListPartitionReassignments.
//!
//! Fetch is streamed: only its final tagged fields (node_endpoints) are held back and rewritten
//! (`AddressRewriter::rewrite_fetch_tail`). `preferred_read_replica` and `current_leader`
//! sit inside the partitions, before the tail. With the identity map they need no change, so
//! single-domain routes keep streaming every Fetch. A multi-domain route's Fetch responses are
//! decoded whole instead (`route_response_handling` says `Decode`): correct, at the cost of
//! the splice for those routes. (Both fields are fixed-width, so a later step can patch them
//! in place from the tail finder's walk and stream again.)

use kafka_protocol::messages::{ApiKey, BrokerId};
use kafka_protocol::protocol::StrBytes;

/// Which way a field is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → upstream: virtual ids become upstream ids.
    Request,
    /// Upstream → client: upstream ids become virtual ids.
    Response,
}

/// What the field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// One id (`-1` and other negatives are markers and never change).
    Id,
    /// A list of ids; one without a virtual id is dropped.
    Ids,
    /// An id with a host and port: the address becomes the gateway's too (dropped when the
    /// node has no gateway port).
    Broker,
    /// A config resource name that is a node id in decimal when its type is BROKER (4) or
    /// BROKER_LOGGER (8); the empty name (cluster-wide default) stays.
    BrokerResourceName,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub key: ApiKey,
    pub direction: Direction,
    /// The versions that carry the field (inclusive; `i16::MAX`: all later ones).
    pub versions: (i16, i16),
    /// Its path in the kafka-protocol message.
    pub path: &'static str,
    pub carries: Carries,
}

/// Declares the rows once: the enum and the list of every variant.
macro_rules! node_fields {
    ($($field:ident),* $(,)?) => {
        /// Every node-id field, one variant per row.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum NodeField {
            $($field),*
        }

        impl NodeField {
            /// Every row, in declaration order.
            pub const ALL: &'static [NodeField] = &[$(NodeField::$field),*];
        }
    };
}

node_fields! {
    MetadataBrokers,
    MetadataController,
    MetadataLeader,
    MetadataReplicas,
    MetadataIsr,
    MetadataOfflineReplicas,
    FindCoordinatorNode,
    FindCoordinatorCoordinators,
    DescribeClusterBrokers,
    DescribeClusterController,
    ProduceCurrentLeader,
    ProduceNodeEndpoints,
    FetchPreferredReadReplica,
    FetchCurrentLeader,
    FetchNodeEndpoints,
    DescribeTopicPartitionsLeader,
    DescribeTopicPartitionsReplicas,
    DescribeTopicPartitionsIsr,
    DescribeTopicPartitionsEligibleLeaders,
    DescribeTopicPartitionsLastKnownElr,
    DescribeTopicPartitionsOfflineReplicas,
    ListPartitionReassignmentsReplicas,
    ListPartitionReassignmentsAdding,
    ListPartitionReassignmentsRemoving,
    DescribeConfigsResultName,
    AlterConfigsResponseName,
    IncrementalAlterConfigsResponseName,
    ListConfigResourcesName,
    FetchReplicaId,
    FetchReplicaStateId,
    ListOffsetsReplicaId,
    OffsetForLeaderEpochReplicaId,
    CreateTopicsAssignments,
    CreatePartitionsAssignments,
    AlterPartitionReassignmentsReplicas,
    DescribeConfigsResourceName,
    AlterConfigsResourceName,
    IncrementalAlterConfigsResourceName,
}

const ALL_VERSIONS: (i16, i16) = (0, i16::MAX);

impl NodeField {
    pub const fn spec(self) -> FieldSpec {
        use ApiKey as K;
        use Carries::*;
        use Direction::*;
        use NodeField::*;
        let (key, direction, versions, path, carries) = match self {
            MetadataBrokers => (
                K::Metadata,
                Response,
                ALL_VERSIONS,
                "brokers[].node_id",
                Broker,
            ),
            MetadataController => (K::Metadata, Response, (1, i16::MAX), "controller_id", Id),
            MetadataLeader => (
                K::Metadata,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].leader_id",
                Id,
            ),
            MetadataReplicas => (
                K::Metadata,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].replica_nodes",
                Ids,
            ),
            MetadataIsr => (
                K::Metadata,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].isr_nodes",
                Ids,
            ),
            MetadataOfflineReplicas => (
                K::Metadata,
                Response,
                (5, i16::MAX),
                "topics[].partitions[].offline_replicas",
                Ids,
            ),
            FindCoordinatorNode => (K::FindCoordinator, Response, (0, 3), "node_id", Broker),
            FindCoordinatorCoordinators => (
                K::FindCoordinator,
                Response,
                (4, i16::MAX),
                "coordinators[].node_id",
                Broker,
            ),
            DescribeClusterBrokers => (
                K::DescribeCluster,
                Response,
                ALL_VERSIONS,
                "brokers[].broker_id",
                Broker,
            ),
            DescribeClusterController => (
                K::DescribeCluster,
                Response,
                ALL_VERSIONS,
                "controller_id",
                Id,
            ),
            ProduceCurrentLeader => (
                K::Produce,
                Response,
                (10, i16::MAX),
                "responses[].partition_responses[].current_leader.leader_id",
                Id,
            ),
            ProduceNodeEndpoints => (
                K::Produce,
                Response,
                (10, i16::MAX),
                "node_endpoints[].node_id",
                Broker,
            ),
            FetchPreferredReadReplica => (
                K::Fetch,
                Response,
                (11, i16::MAX),
                "responses[].partitions[].preferred_read_replica",
                Id,
            ),
            FetchCurrentLeader => (
                K::Fetch,
                Response,
                (12, i16::MAX),
                "responses[].partitions[].current_leader.leader_id",
                Id,
            ),
            FetchNodeEndpoints => (
                K::Fetch,
                Response,
                (16, i16::MAX),
                "node_endpoints[].node_id",
                Broker,
            ),
            DescribeTopicPartitionsLeader => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].leader_id",
                Id,
            ),
            DescribeTopicPartitionsReplicas => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].replica_nodes",
                Ids,
            ),
            DescribeTopicPartitionsIsr => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].isr_nodes",
                Ids,
            ),
            DescribeTopicPartitionsEligibleLeaders => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].eligible_leader_replicas",
                Ids,
            ),
            DescribeTopicPartitionsLastKnownElr => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].last_known_elr",
                Ids,
            ),
            DescribeTopicPartitionsOfflineReplicas => (
                K::DescribeTopicPartitions,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].offline_replicas",
                Ids,
            ),
            ListPartitionReassignmentsReplicas => (
                K::ListPartitionReassignments,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].replicas",
                Ids,
            ),
            ListPartitionReassignmentsAdding => (
                K::ListPartitionReassignments,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].adding_replicas",
                Ids,
            ),
            ListPartitionReassignmentsRemoving => (
                K::ListPartitionReassignments,
                Response,
                ALL_VERSIONS,
                "topics[].partitions[].removing_replicas",
                Ids,
            ),
            DescribeConfigsResultName => (
                K::DescribeConfigs,
                Response,
                ALL_VERSIONS,
                "results[].resource_name",
                BrokerResourceName,
            ),
            AlterConfigsResponseName => (
                K::AlterConfigs,
                Response,
                ALL_VERSIONS,
                "responses[].resource_name",
                BrokerResourceName,
            ),
            IncrementalAlterConfigsResponseName => (
                K::IncrementalAlterConfigs,
                Response,
                ALL_VERSIONS,
                "responses[].resource_name",
                BrokerResourceName,
            ),
            // v0 lists client-metrics resources only (no type field); v1 any type.
            ListConfigResourcesName => (
                K::ListConfigResources,
                Response,
                (1, i16::MAX),
                "config_resources[].resource_name",
                BrokerResourceName,
            ),
            // Consumers send -1; a positive id is a follower's (or one pretending to be).
            FetchReplicaId => (K::Fetch, Request, (0, 14), "replica_id", Id),
            FetchReplicaStateId => (
                K::Fetch,
                Request,
                (15, i16::MAX),
                "replica_state.replica_id",
                Id,
            ),
            ListOffsetsReplicaId => (K::ListOffsets, Request, ALL_VERSIONS, "replica_id", Id),
            OffsetForLeaderEpochReplicaId => (
                K::OffsetForLeaderEpoch,
                Request,
                (3, i16::MAX),
                "replica_id",
                Id,
            ),
            CreateTopicsAssignments => (
                K::CreateTopics,
                Request,
                ALL_VERSIONS,
                "topics[].assignments[].broker_ids",
                Ids,
            ),
            CreatePartitionsAssignments => (
                K::CreatePartitions,
                Request,
                ALL_VERSIONS,
                "topics[].assignments[].broker_ids",
                Ids,
            ),
            AlterPartitionReassignmentsReplicas => (
                K::AlterPartitionReassignments,
                Request,
                ALL_VERSIONS,
                "topics[].partitions[].replicas",
                Ids,
            ),
            DescribeConfigsResourceName => (
                K::DescribeConfigs,
                Request,
                ALL_VERSIONS,
                "resources[].resource_name",
                BrokerResourceName,
            ),
            AlterConfigsResourceName => (
                K::AlterConfigs,
                Request,
                ALL_VERSIONS,
                "resources[].resource_name",
                BrokerResourceName,
            ),
            IncrementalAlterConfigsResourceName => (
                K::IncrementalAlterConfigs,
                Request,
                ALL_VERSIONS,
                "resources[].resource_name",
                BrokerResourceName,
            ),
        };
        FieldSpec {
            key,
            direction,
            versions,
            path,
            carries,
        }
    }

    /// Whether this row applies to a message of `key` at `version` in `direction`.
    pub fn applies(self, key: ApiKey, version: i16, direction: Direction) -> bool {
        let s = self.spec();
        s.key == key
            && s.direction == direction
            && s.versions.0 <= version
            && version <= s.versions.1
    }
}

fn any_row(key: ApiKey, version: i16, direction: Direction) -> bool {
    NodeField::ALL
        .iter()
        .any(|f| f.applies(key, version, direction))
}

/// Whether a request of this key and version carries a node id (so a route with a
/// non-identity map must decode it).
pub fn needs_request_rewrite(key: ApiKey, version: i16) -> bool {
    any_row(key, version, Direction::Request)
}

/// Whether a response of this key and version carries a node id.
pub fn needs_response_rewrite(key: ApiKey, version: i16) -> bool {
    any_row(key, version, Direction::Response)
}

/// Applies one direction's translation to the fields of a decoded message, remembering
/// whether anything changed (an unchanged message is not re-encoded).
pub(crate) struct Mapper<'a> {
    translate: &'a dyn Fn(i32) -> Option<i32>,
    pub changed: bool,
}

impl<'a> Mapper<'a> {
    pub fn new(translate: &'a dyn Fn(i32) -> Option<i32>) -> Self {
        Self {
            translate,
            changed: false,
        }
    }

    /// [`Carries::Id`]: an id without a translation becomes -1 (no leader / no replica).
    pub fn id(&mut self, id: &mut BrokerId) {
        if id.0 < 0 {
            return;
        }
        let to = (self.translate)(id.0).unwrap_or(-1);
        if to != id.0 {
            id.0 = to;
            self.changed = true;
        }
    }

    /// [`Carries::Ids`]: ids without a translation are dropped.
    pub fn ids(&mut self, ids: &mut Vec<BrokerId>) {
        let before = ids.len();
        ids.retain_mut(|id| {
            if id.0 < 0 {
                return true;
            }
            match (self.translate)(id.0) {
                Some(to) => {
                    self.changed |= to != id.0;
                    id.0 = to;
                    true
                }
                None => false,
            }
        });
        self.changed |= ids.len() != before;
    }

    pub fn optional_ids(&mut self, ids: &mut Option<Vec<BrokerId>>) {
        if let Some(ids) = ids {
            self.ids(ids);
        }
    }

    /// [`Carries::BrokerResourceName`]: a name that is not a node id (the empty cluster
    /// default, or not a number) stays as it is.
    pub fn resource_name(&mut self, resource_type: i8, name: &mut StrBytes) {
        if !matches!(resource_type, 4 | 8) {
            return;
        }
        let Ok(id) = name.parse::<i32>() else {
            return;
        };
        let mut id = BrokerId(id);
        let was = self.changed;
        self.changed = false;
        self.id(&mut id);
        if self.changed {
            *name = StrBytes::from_string(id.0.to_string());
        }
        self.changed |= was;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_protocol::versions::FORWARDED_KEYS;

    #[test]
    fn every_row_is_a_forwarded_key_and_listed_once() {
        for (i, f) in NodeField::ALL.iter().enumerate() {
            assert!(FORWARDED_KEYS.contains(&f.spec().key), "{f:?}");
            assert!(!NodeField::ALL[..i].contains(f), "{f:?} twice");
        }
    }

    #[test]
    fn the_table_decides_what_is_decoded() {
        assert!(needs_request_rewrite(ApiKey::Fetch, 4));
        assert!(needs_request_rewrite(ApiKey::Fetch, 17));
        assert!(!needs_request_rewrite(ApiKey::Produce, 11));
        assert!(!needs_request_rewrite(ApiKey::Metadata, 12));
        assert!(!needs_request_rewrite(ApiKey::OffsetForLeaderEpoch, 2));
        assert!(needs_response_rewrite(ApiKey::Fetch, 11));
        assert!(!needs_response_rewrite(ApiKey::Fetch, 10));
        assert!(!needs_response_rewrite(ApiKey::Produce, 9));
        assert!(!needs_response_rewrite(ApiKey::ListConfigResources, 0));
        assert!(!needs_response_rewrite(ApiKey::OffsetCommit, 9));
    }
}
