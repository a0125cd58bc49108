//! The producer-id check of a tenant's transactional requests (see [`crate::producer_ids`]):
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn go upstream only with a
//! producer id issued to their own transactional id; otherwise the gateway answers them itself
//! with INVALID_PRODUCER_ID_MAPPING, per partition where the response has partitions.

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{decode_request, encode_response, CodecResult};

use crate::names::{Entity, Tenant};
use crate::producer_ids::ProducerIds;

/// The keys whose requests carry a transactional id with its producer id.
pub const CHECKED_KEYS: &[ApiKey] = &[
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::EndTxn,
];

const INVALID_MAPPING: i16 = ResponseError::InvalidProducerIdMapping.code();

struct Check<'a> {
    tenant: &'a Tenant,
    producers: &'a ProducerIds,
}

impl Check<'_> {
    /// Whether the producer id was issued to this (client-side) transactional id.
    fn issued(&self, producer_id: &ProducerId, transactional_id: &TransactionalId) -> bool {
        let upstream = self
            .tenant
            .map(Entity::TransactionalId, &transactional_id.0);
        self.producers.issued_to(producer_id.0, &upstream)
    }
}

/// The gateway's answer to a request whose producer id is not its transactional id's, or
/// None when the request may go on to the tenancy mapping.
pub(crate) fn refusal(
    tenant: &Tenant,
    producers: &ProducerIds,
    key: ApiKey,
    version: i16,
    frame: &Bytes,
) -> CodecResult<Option<Bytes>> {
    if !CHECKED_KEYS.contains(&key) {
        return Ok(None);
    }
    let check = Check { tenant, producers };
    match key {
        ApiKey::EndTxn => {
            let (header, r) = decode_request::<EndTxnRequest>(frame)?;
            let refused = !check.issued(&r.producer_id, &r.transactional_id);
            let answer = || EndTxnResponse::default().with_error_code(INVALID_MAPPING);
            respond(refused, &header, answer, key, version)
        }
        ApiKey::AddOffsetsToTxn => {
            let (header, r) = decode_request::<AddOffsetsToTxnRequest>(frame)?;
            let refused = !check.issued(&r.producer_id, &r.transactional_id);
            let answer = || AddOffsetsToTxnResponse::default().with_error_code(INVALID_MAPPING);
            respond(refused, &header, answer, key, version)
        }
        ApiKey::TxnOffsetCommit => {
            let (header, r) = decode_request::<TxnOffsetCommitRequest>(frame)?;
            let refused = !check.issued(&r.producer_id, &r.transactional_id);
            let answer = || {
                let topics = r.topics.iter().map(|t| {
                    let partitions = t.partitions.iter().map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(INVALID_MAPPING)
                    });
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions.collect())
                });
                TxnOffsetCommitResponse::default().with_topics(topics.collect())
            };
            respond(refused, &header, answer, key, version)
        }
        ApiKey::AddPartitionsToTxn => {
            let (header, r) = decode_request::<AddPartitionsToTxnRequest>(frame)?;
            let topic_results =
                |topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic]| {
                    topics
                        .iter()
                        .map(|t| {
                            let partitions = t.partitions.iter().map(|p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(*p)
                                    .with_partition_error_code(INVALID_MAPPING)
                            });
                            AddPartitionsToTxnTopicResult::default()
                                .with_name(t.name.clone())
                                .with_results_by_partition(partitions.collect())
                        })
                        .collect::<Vec<_>>()
                };
            if version <= 3 {
                let refused = !check.issued(
                    &r.v3_and_below_producer_id,
                    &r.v3_and_below_transactional_id,
                );
                let answer = || {
                    AddPartitionsToTxnResponse::default()
                        .with_results_by_topic_v3_and_below(topic_results(&r.v3_and_below_topics))
                };
                return respond(refused, &header, answer, key, version);
            }
            // v4+ (batched, as brokers send it): one transaction with a foreign producer id
            // refuses the whole request; every transaction is answered.
            let refused = r
                .transactions
                .iter()
                .any(|t| !check.issued(&t.producer_id, &t.transactional_id));
            let answer = || {
                let results = r.transactions.iter().map(|t| {
                    AddPartitionsToTxnResult::default()
                        .with_transactional_id(t.transactional_id.clone())
                        .with_topic_results(topic_results(&t.topics))
                });
                AddPartitionsToTxnResponse::default()
                    .with_error_code(INVALID_MAPPING)
                    .with_results_by_transaction(results.collect())
            };
            respond(refused, &header, answer, key, version)
        }
        _ => Ok(None),
    }
}

fn respond<T: Encodable>(
    refused: bool,
    request: &RequestHeader,
    answer: impl FnOnce() -> T,
    key: ApiKey,
    version: i16,
) -> CodecResult<Option<Bytes>> {
    if !refused {
        return Ok(None);
    }
    let header = ResponseHeader::default().with_correlation_id(request.correlation_id);
    encode_response(&header, &answer(), key, version).map(Some)
}
