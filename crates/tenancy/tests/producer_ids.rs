//! A tenant's transactional requests carry only producer ids issued to its own transactional
//! ids: learned from InitProducerId answers passing through, checked before mapping, refused
//! with INVALID_PRODUCER_ID_MAPPING (per partition where the response has partitions).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{decode_response, encode_request, encode_response};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_tenancy::{
    ProducerIds, ResponseContext, ResponsePlan, Tenant, TenantSession, TopicIds,
};

const INVALID_MAPPING: i16 = ResponseError::InvalidProducerIdMapping.code();

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn frame<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(5);
    encode_request(&header, body).unwrap()
}

/// Two tenants on one streaming domain.
fn sessions() -> (TenantSession, TenantSession) {
    let ids = Arc::new(TopicIds::default());
    let producers = Arc::new(ProducerIds::default());
    let a = TenantSession::new(
        Arc::new(Tenant::new("a", "a.")),
        ids.clone(),
        producers.clone(),
    );
    let b = TenantSession::new(Arc::new(Tenant::new("b", "b.")), ids, producers);
    (a, b)
}

/// Passes an InitProducerId for `txn` through `session`, the broker issuing `producer_id`.
fn init(session: &TenantSession, txn: &str, producer_id: i64) {
    let version = 4;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(txn))))
        .with_transaction_timeout_ms(60_000);
    let (_, plan) = session
        .request(
            ApiKey::InitProducerId,
            version,
            frame(ApiKey::InitProducerId, version, &request),
        )
        .unwrap();
    let ResponsePlan::Map(ctx) = plan else {
        panic!("an InitProducerId answer is read to learn its producer id")
    };
    let answer = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0);
    let header = ResponseHeader::default().with_correlation_id(5);
    let bytes = encode_response(&header, &answer, ApiKey::InitProducerId, version).unwrap();
    session
        .response(
            &ctx,
            ResponseMessage::new(ApiKey::InitProducerId, version, bytes),
        )
        .unwrap();
}

fn refused<T: Decodable>(
    session: &TenantSession,
    key: ApiKey,
    version: i16,
    body: &impl Encodable,
) -> Option<T> {
    let answer = session
        .refusal(key, version, &frame(key, version, body))
        .unwrap()?;
    let (header, body) = decode_response::<T>(&answer, key, version).unwrap();
    assert_eq!(header.correlation_id, 5);
    Some(body)
}

fn end_txn(txn: &str, producer_id: i64) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn)))
        .with_producer_id(ProducerId(producer_id))
        .with_committed(true)
}

#[test]
fn end_txn_goes_up_only_with_the_producer_id_issued_to_its_transactional_id() {
    let (a, b) = sessions();
    init(&a, "t", 1000);
    assert!(refused::<EndTxnResponse>(&a, ApiKey::EndTxn, 3, &end_txn("t", 1000)).is_none());
    // The other tenant, same client-side transactional id, the first tenant's producer id.
    let answer = refused::<EndTxnResponse>(&b, ApiKey::EndTxn, 3, &end_txn("t", 1000)).unwrap();
    assert_eq!(answer.error_code, INVALID_MAPPING);
    // Nor another transactional id of the same tenant, nor a producer id never issued.
    assert!(refused::<EndTxnResponse>(&a, ApiKey::EndTxn, 3, &end_txn("u", 1000)).is_some());
    assert!(refused::<EndTxnResponse>(&a, ApiKey::EndTxn, 3, &end_txn("t", 1001)).is_some());
    // Tenant b gets its own producer id and uses it.
    init(&b, "t", 2000);
    assert!(refused::<EndTxnResponse>(&b, ApiKey::EndTxn, 3, &end_txn("t", 2000)).is_none());
    assert!(refused::<EndTxnResponse>(&a, ApiKey::EndTxn, 3, &end_txn("t", 2000)).is_some());
}

#[test]
fn add_offsets_to_txn_is_refused_with_another_tenants_producer_id() {
    let (a, b) = sessions();
    init(&a, "t", 1000);
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s("t")))
        .with_producer_id(ProducerId(1000))
        .with_group_id(GroupId(s("g")));
    assert!(refused::<AddOffsetsToTxnResponse>(&a, ApiKey::AddOffsetsToTxn, 3, &request).is_none());
    let answer =
        refused::<AddOffsetsToTxnResponse>(&b, ApiKey::AddOffsetsToTxn, 3, &request).unwrap();
    assert_eq!(answer.error_code, INVALID_MAPPING);
}

#[test]
fn txn_offset_commit_is_answered_per_partition() {
    use kafka_protocol::messages::txn_offset_commit_request::*;
    let (a, b) = sessions();
    init(&a, "t", 1000);
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("t")))
        .with_group_id(GroupId(s("g")))
        .with_producer_id(ProducerId(1000))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![
                TxnOffsetCommitRequestPartition::default().with_partition_index(0),
                TxnOffsetCommitRequestPartition::default().with_partition_index(3),
            ])]);
    assert!(refused::<TxnOffsetCommitResponse>(&a, ApiKey::TxnOffsetCommit, 3, &request).is_none());
    let answer =
        refused::<TxnOffsetCommitResponse>(&b, ApiKey::TxnOffsetCommit, 3, &request).unwrap();
    assert_eq!(answer.topics.len(), 1);
    assert_eq!(
        answer.topics[0].name.0.as_str(),
        "orders",
        "the client's own name"
    );
    let partitions: Vec<(i32, i16)> = answer.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    assert_eq!(partitions, vec![(0, INVALID_MAPPING), (3, INVALID_MAPPING)]);
}

#[test]
fn add_partitions_to_txn_is_answered_per_partition() {
    use kafka_protocol::messages::add_partitions_to_txn_request::*;
    let (a, b) = sessions();
    init(&a, "t", 1000);
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s("t")))
        .with_v3_and_below_producer_id(ProducerId(1000))
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![0, 1])]);
    for version in [0, 3] {
        assert!(refused::<AddPartitionsToTxnResponse>(
            &a,
            ApiKey::AddPartitionsToTxn,
            version,
            &request
        )
        .is_none());
        let answer = refused::<AddPartitionsToTxnResponse>(
            &b,
            ApiKey::AddPartitionsToTxn,
            version,
            &request,
        )
        .unwrap();
        let t = &answer.results_by_topic_v3_and_below[0];
        assert_eq!(t.name.0.as_str(), "orders");
        let codes: Vec<i16> = t
            .results_by_partition
            .iter()
            .map(|p| p.partition_error_code)
            .collect();
        assert_eq!(codes, vec![INVALID_MAPPING, INVALID_MAPPING]);
    }
}

#[test]
fn a_failed_init_issues_nothing_and_other_keys_are_not_checked() {
    let (a, _) = sessions();
    let request =
        InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("t"))));
    let (_, plan) = a
        .request(
            ApiKey::InitProducerId,
            4,
            frame(ApiKey::InitProducerId, 4, &request),
        )
        .unwrap();
    let ResponsePlan::Map(ctx) = plan else {
        panic!()
    };
    let answer = InitProducerIdResponse::default()
        .with_error_code(ResponseError::CoordinatorNotAvailable.code())
        .with_producer_id(ProducerId(1000));
    let bytes = encode_response(
        &ResponseHeader::default(),
        &answer,
        ApiKey::InitProducerId,
        4,
    )
    .unwrap();
    a.response(&ctx, ResponseMessage::new(ApiKey::InitProducerId, 4, bytes))
        .unwrap();
    assert!(refused::<EndTxnResponse>(&a, ApiKey::EndTxn, 3, &end_txn("t", 1000)).is_some());
    // An idempotent producer's InitProducerId (no transactional id) has nothing to learn.
    let idempotent = InitProducerIdRequest::default();
    let (_, plan) = a
        .request(
            ApiKey::InitProducerId,
            4,
            frame(ApiKey::InitProducerId, 4, &idempotent),
        )
        .unwrap();
    assert!(matches!(plan, ResponsePlan::Untouched));
    let metadata = MetadataRequest::default();
    assert!(a
        .refusal(ApiKey::Metadata, 9, &frame(ApiKey::Metadata, 9, &metadata))
        .unwrap()
        .is_none());
    let _ = ResponseContext::default();
}
