//! The response direction of the node-id table ([`crate::node_fields`]) for the fields that
//! are ids only: upstream ids become the route's virtual ids. Fields that come with an address
//! (brokers, coordinators, node endpoints) are rewritten with it in [`crate::rewrite`].
//!
//! Only called for a route whose map is not the identity.

use kafka_protocol::messages::{
    AlterConfigsResponse, DescribeConfigsResponse, DescribeTopicPartitionsResponse, FetchResponse,
    IncrementalAlterConfigsResponse, ListConfigResourcesResponse,
    ListPartitionReassignmentsResponse, MetadataResponse, ProduceResponse,
};

use crate::node_fields::Mapper;

pub(crate) fn metadata(r: &mut MetadataResponse, m: &mut Mapper<'_>) {
    m.id(&mut r.controller_id);
    for t in &mut r.topics {
        for p in &mut t.partitions {
            m.id(&mut p.leader_id);
            m.ids(&mut p.replica_nodes);
            m.ids(&mut p.isr_nodes);
            m.ids(&mut p.offline_replicas);
        }
    }
}

pub(crate) fn produce(r: &mut ProduceResponse, m: &mut Mapper<'_>) {
    for t in &mut r.responses {
        for p in &mut t.partition_responses {
            m.id(&mut p.current_leader.leader_id);
        }
    }
}

pub(crate) fn fetch(r: &mut FetchResponse, m: &mut Mapper<'_>) {
    for t in &mut r.responses {
        for p in &mut t.partitions {
            m.id(&mut p.preferred_read_replica);
            m.id(&mut p.current_leader.leader_id);
        }
    }
}

pub(crate) fn describe_topic_partitions(
    r: &mut DescribeTopicPartitionsResponse,
    m: &mut Mapper<'_>,
) {
    for t in &mut r.topics {
        for p in &mut t.partitions {
            m.id(&mut p.leader_id);
            m.ids(&mut p.replica_nodes);
            m.ids(&mut p.isr_nodes);
            m.optional_ids(&mut p.eligible_leader_replicas);
            m.optional_ids(&mut p.last_known_elr);
            m.ids(&mut p.offline_replicas);
        }
    }
}

pub(crate) fn list_partition_reassignments(
    r: &mut ListPartitionReassignmentsResponse,
    m: &mut Mapper<'_>,
) {
    for t in &mut r.topics {
        for p in &mut t.partitions {
            m.ids(&mut p.replicas);
            m.ids(&mut p.adding_replicas);
            m.ids(&mut p.removing_replicas);
        }
    }
}

pub(crate) fn describe_configs(r: &mut DescribeConfigsResponse, m: &mut Mapper<'_>) {
    for c in &mut r.results {
        m.resource_name(c.resource_type, &mut c.resource_name);
    }
}

pub(crate) fn alter_configs(r: &mut AlterConfigsResponse, m: &mut Mapper<'_>) {
    for c in &mut r.responses {
        m.resource_name(c.resource_type, &mut c.resource_name);
    }
}

pub(crate) fn incremental_alter_configs(
    r: &mut IncrementalAlterConfigsResponse,
    m: &mut Mapper<'_>,
) {
    for c in &mut r.responses {
        m.resource_name(c.resource_type, &mut c.resource_name);
    }
}

pub(crate) fn list_config_resources(r: &mut ListConfigResourcesResponse, m: &mut Mapper<'_>) {
    for c in &mut r.config_resources {
        m.resource_name(c.resource_type, &mut c.resource_name);
    }
}
