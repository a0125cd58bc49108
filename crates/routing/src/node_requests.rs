//! The request direction of the node-id table ([`crate::node_fields`]): a client's virtual
//! ids become the upstream's before the request is forwarded.

use bytes::Bytes;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterPartitionReassignmentsRequest, ApiKey, CreatePartitionsRequest,
    CreateTopicsRequest, DescribeConfigsRequest, FetchRequest, IncrementalAlterConfigsRequest,
    ListOffsetsRequest, OffsetForLeaderEpochRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use gatehouse_protocol::codec::CodecResult;

use crate::node_fields::{needs_request_rewrite, Mapper};
use crate::nodes::NodeMap;
use gatehouse_protocol::message::RequestMessage;

impl NodeMap {
    /// Whether requests of this key and version must be handed to [`Self::rewrite_request`]
    /// whole (decoded). False for every request on an identity map: the proxy can keep those
    /// raw (and Produce spliced) without asking further.
    pub fn request_needs_rewrite(&self, key: ApiKey, version: i16) -> bool {
        !self.is_identity() && needs_request_rewrite(key, version)
    }

    /// A request frame (length prefix included) with every virtual node id replaced by its
    /// upstream id. The same `Bytes` come back, undecoded, when the map is the identity or the
    /// key carries no node id at this version; decoded but not re-encoded when no id changed.
    ///
    /// Ids are mapped whichever domain they belong to: choosing the domain a request goes to
    /// is the router's ([`NodeMap::to_upstream`] tells it).
    pub fn rewrite_request(&self, key: ApiKey, version: i16, frame: Bytes) -> CodecResult<Bytes> {
        if !self.request_needs_rewrite(key, version) {
            return Ok(frame);
        }
        let mut message = RequestMessage::new(key, version, frame);
        self.map_request(key, version, &mut message)?;
        message.into_frame()
    }

    /// [`Self::rewrite_request`] on a message the pipeline holds (decoded at most once, and
    /// encoded again only if some stage changed it). Nothing is decoded when
    /// [`Self::request_needs_rewrite`] is false.
    pub fn map_request(
        &self,
        key: ApiKey,
        version: i16,
        message: &mut RequestMessage,
    ) -> CodecResult<()> {
        if !self.request_needs_rewrite(key, version) {
            return Ok(());
        }
        match key {
            ApiKey::Fetch => self.each(message, |r: &mut FetchRequest, m| {
                m.id(&mut r.replica_id);
                m.id(&mut r.replica_state.replica_id);
            }),
            ApiKey::ListOffsets => self.each(message, |r: &mut ListOffsetsRequest, m| {
                m.id(&mut r.replica_id)
            }),
            ApiKey::OffsetForLeaderEpoch => self
                .each(message, |r: &mut OffsetForLeaderEpochRequest, m| {
                    m.id(&mut r.replica_id)
                }),
            ApiKey::CreateTopics => self.each(message, |r: &mut CreateTopicsRequest, m| {
                for t in &mut r.topics {
                    for a in &mut t.assignments {
                        m.ids(&mut a.broker_ids);
                    }
                }
            }),
            ApiKey::CreatePartitions => self.each(message, |r: &mut CreatePartitionsRequest, m| {
                for t in &mut r.topics {
                    for a in t.assignments.iter_mut().flatten() {
                        m.ids(&mut a.broker_ids);
                    }
                }
            }),
            ApiKey::AlterPartitionReassignments => {
                self.each(message, |r: &mut AlterPartitionReassignmentsRequest, m| {
                    for t in &mut r.topics {
                        for p in &mut t.partitions {
                            m.optional_ids(&mut p.replicas);
                        }
                    }
                })
            }
            ApiKey::DescribeConfigs => self.each(message, |r: &mut DescribeConfigsRequest, m| {
                for c in &mut r.resources {
                    m.resource_name(c.resource_type, &mut c.resource_name);
                }
            }),
            ApiKey::AlterConfigs => self.each(message, |r: &mut AlterConfigsRequest, m| {
                for c in &mut r.resources {
                    m.resource_name(c.resource_type, &mut c.resource_name);
                }
            }),
            ApiKey::IncrementalAlterConfigs => {
                self.each(message, |r: &mut IncrementalAlterConfigsRequest, m| {
                    for c in &mut r.resources {
                        m.resource_name(c.resource_type, &mut c.resource_name);
                    }
                })
            }
            // A row added to the table without its mapping: refuse rather than pass ids on.
            other => Err(anyhow::anyhow!(
                "{other:?} has a request row in the node-id table but no mapping"
            )),
        }
    }

    /// Maps the body's ids; the message is marked changed only if one did.
    fn each<T: Decodable + Encodable + Send + 'static>(
        &self,
        message: &mut RequestMessage,
        edit: impl FnOnce(&mut T, &mut Mapper<'_>),
    ) -> CodecResult<()> {
        let translate = |id| Some(self.upstream_id(id));
        message.edit::<T>(|body| {
            let mut mapper = Mapper::new(&translate);
            edit(body, &mut mapper);
            mapper.changed
        })
    }
}
