//! The producer-id check of a tenant's transactional requests (see [`crate::producer_ids`]):
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn and transactional Produce go
//! upstream only with a producer id issued to their own transactional id; otherwise the
//! gateway answers them itself with INVALID_PRODUCER_ID_MAPPING, per partition where the
//! response has partitions. A Produce carries its producer id in each record batch's header,
//! read there without decoding the records.

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
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
    ApiKey::Produce,
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
    if key == ApiKey::Produce && !transactional_produce(version, frame)? {
        return Ok(None); // the common case: no transaction, nothing decoded
    }
    match key {
        ApiKey::Produce => {
            let (header, r) = decode_request::<ProduceRequest>(frame)?;
            let Some(transactional_id) = &r.transactional_id else {
                return Ok(None);
            };
            let refused = r
                .topic_data
                .iter()
                .flat_map(|t| &t.partition_data)
                .flat_map(|p| batch_producer_ids(p.records.as_deref().unwrap_or_default()))
                .any(|id| !check.issued(&ProducerId(id), transactional_id));
            let answer = || {
                let topics = r.topic_data.iter().map(|t| {
                    let partitions = t.partition_data.iter().map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(INVALID_MAPPING)
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(-1)
                    });
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partition_responses(partitions.collect())
                });
                ProduceResponse::default().with_responses(topics.collect())
            };
            respond(refused, &header, answer, key, version)
        }
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

/// Whether a Produce frame (length prefix included) names a transactional id, read from its
/// header alone.
fn transactional_produce(version: i16, frame: &Bytes) -> CodecResult<bool> {
    use gatehouse_protocol::header::{produce_fields, RequestHeaderPeek};
    let body = frame.get(4..).unwrap_or_default();
    let fields = RequestHeaderPeek::parse(body)
        .and_then(|peek| peek.body_offset(ApiKey::Produce, body))
        .and_then(|at| produce_fields(version, body, at));
    match fields {
        Ok(f) => Ok(f.transactional),
        // A malformed header is refused by the decode that maps the request.
        Err(_) => Ok(false),
    }
}

/// Where a record batch (magic 2) keeps its length and its producer id.
const BATCH_LENGTH_AT: usize = 8;
const PRODUCER_ID_AT: usize = 43;

/// The producer id of every record batch in a partition's records, read from the batch
/// headers only. A batch cut short yields what it has (the broker refuses the rest).
fn batch_producer_ids(records: &[u8]) -> impl Iterator<Item = i64> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let batch = records.get(at..)?;
        let id = batch.get(PRODUCER_ID_AT..PRODUCER_ID_AT + 8)?;
        let len = batch.get(BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4)?;
        let len = i32::from_be_bytes(len.try_into().expect("four bytes"));
        at = at
            .saturating_add(12)
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        Some(i64::from_be_bytes(id.try_into().expect("eight bytes")))
    })
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

#[cfg(test)]
mod batch_tests {
    use super::batch_producer_ids;

    fn batch(producer_id: i64, records_len: usize) -> Vec<u8> {
        let mut b = vec![0u8; 61 + records_len];
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2; // magic
        b[43..51].copy_from_slice(&producer_id.to_be_bytes());
        b
    }

    #[test]
    fn every_batch_of_a_partition_is_read() {
        let mut records = batch(7, 30);
        records.extend(batch(9, 0));
        records.extend(batch(11, 100));
        assert_eq!(batch_producer_ids(&records).collect::<Vec<_>>(), [7, 9, 11]);
        assert_eq!(batch_producer_ids(&[]).count(), 0);
        let cut = &records[..records.len() - 100 - 30];
        assert_eq!(batch_producer_ids(cut).collect::<Vec<_>>(), [7, 9]);
    }
}
