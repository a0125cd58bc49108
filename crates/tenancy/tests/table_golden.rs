//! Golden cases for the tenancy table: a request as tenant `a` goes up with `a.` names, and a
//! response holding both tenants' entries comes back with only `a`'s, un-prefixed.
//!
//! The end-to-end probe (tests/test_tenancy_probe.py) sends every key through a real broker;
//! these cases cover what that broker (Tansu) does not implement, and the special rules.

mod common;

use std::sync::Arc;

use common::{s, topic, Case};

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use gatehouse_protocol::codec::{decode_request, decode_response, encode_request, encode_response};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_tenancy::table::{response_carries_names, tenant_may_send, ACL_KEYS, MAPPED_KEYS};
use gatehouse_tenancy::{ResponseContext, ResponsePlan, Tenant};

/// A session of tenant `a` (prefix `a.`).
fn new_case() -> Case {
    Case::of(Arc::new(Tenant::new("a", "a.")))
}

#[test]
fn every_mapped_key_is_sendable_and_cluster_wide_keys_are_not() {
    for k in MAPPED_KEYS {
        assert!(tenant_may_send(*k), "{k:?}");
    }
    for k in [
        ApiKey::DescribeLogDirs,
        ApiKey::AlterReplicaLogDirs,
        ApiKey::ElectLeaders,
        ApiKey::AlterPartitionReassignments,
        ApiKey::AlterClientQuotas,
        ApiKey::AlterUserScramCredentials,
        ApiKey::UpdateFeatures,
        ApiKey::CreateDelegationToken,
    ] {
        assert!(!tenant_may_send(k), "{k:?}");
    }
    assert_eq!(MAPPED_KEYS.len(), 34);
    // The ACL keys are the gateway's to answer (its own ACLs), never mapped or forwarded.
    for k in ACL_KEYS {
        assert!(tenant_may_send(*k) && !MAPPED_KEYS.contains(k), "{k:?}");
    }
}

#[test]
fn api_versions_lists_only_keys_a_tenant_may_send() {
    let c = new_case();
    let (_, ctx) = c.up(ApiKey::ApiVersions, 3, ApiVersionsRequest::default());
    let offered = [
        ApiKey::Produce,
        ApiKey::DescribeLogDirs,
        ApiKey::ElectLeaders,
    ];
    let body = ApiVersionsResponse::default().with_api_keys(
        offered
            .iter()
            .map(|k| {
                api_versions_response::ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_max_version(3)
            })
            .collect(),
    );
    let got = c.down(ApiKey::ApiVersions, 3, ctx.as_deref(), body);
    let keys: Vec<(i16, i16, i16)> = (got.api_keys.iter())
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    // The ACL keys are offered at the gateway's versions though the upstream lacks them: the
    // gateway answers them.
    let acl = |k: ApiKey| (k as i16, 1, 3);
    assert_eq!(
        keys,
        vec![
            (ApiKey::Produce as i16, 0, 3),
            acl(ApiKey::DescribeAcls),
            acl(ApiKey::CreateAcls),
            acl(ApiKey::DeleteAcls)
        ]
    );
}

#[test]
fn metadata_filters_other_tenants_and_refuses_names_too_long_once_prefixed() {
    let c = new_case();
    let long = "x".repeat(248);
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders"))),
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic(&long))),
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic("b.orders"))),
    ]));
    let (up, ctx) = c.up(ApiKey::Metadata, 12, req);
    let names: Vec<_> = up
        .topics
        .unwrap()
        .iter()
        .map(|t| t.name.clone().unwrap().0.to_string())
        .collect();
    assert_eq!(names, ["a.orders", "a.b.orders"]);

    let mine = Uuid::from_u128(1);
    let theirs = Uuid::from_u128(2);
    let resp = MetadataResponse::default().with_topics(vec![
        metadata_response::MetadataResponseTopic::default()
            .with_name(Some(topic("a.orders")))
            .with_topic_id(mine),
        metadata_response::MetadataResponseTopic::default()
            .with_name(Some(topic("b.orders")))
            .with_topic_id(theirs),
    ]);
    let got = c.down(ApiKey::Metadata, 12, ctx.as_deref(), resp);
    let got: Vec<_> = got
        .topics
        .iter()
        .map(|t| (t.name.clone().unwrap().0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        got,
        [
            ("orders".to_string(), 0),
            (long, ResponseError::InvalidTopicException.code())
        ]
    );
    // Both ids were learned from the unfiltered response.
    assert_eq!(c.ids.name(theirs).as_deref(), Some("b.orders"));
}

#[test]
fn another_tenants_topic_id_never_reaches_the_upstream() {
    let c = new_case();
    let mine = Uuid::from_u128(1);
    let theirs = Uuid::from_u128(2);
    let unknown = Uuid::from_u128(3);
    c.ids.learn(mine, &s("a.orders"));
    c.ids.learn(theirs, &s("b.orders"));
    let req = FetchRequest::default().with_topics(
        [mine, theirs, unknown]
            .iter()
            .map(|id| fetch_request::FetchTopic::default().with_topic_id(*id))
            .collect(),
    );
    let (up, ctx) = c.up(ApiKey::Fetch, 16, req);
    let sent: Vec<Uuid> = up.topics.iter().map(|t| t.topic_id).collect();
    assert_eq!(sent[0], mine);
    assert!(!sent.contains(&theirs) && !sent.contains(&unknown));
    let ctx = ctx.expect("stand-ins must be restored in the response");

    // The broker answers UNKNOWN_TOPIC_ID for the stand-ins; the client sees its own ids back.
    let resp = FetchResponse::default().with_responses(
        sent.iter()
            .map(|id| fetch_response::FetchableTopicResponse::default().with_topic_id(*id))
            .collect(),
    );
    let got = c.down(ApiKey::Fetch, 16, Some(&ctx), resp);
    let back: Vec<Uuid> = got.responses.iter().map(|t| t.topic_id).collect();
    assert_eq!(back, [mine, theirs, unknown]);

    // A Fetch by owned ids needs nothing from its response: it streams as in passthrough.
    let (_, ctx) = c.up(
        ApiKey::Fetch,
        16,
        FetchRequest::default().with_topics(vec![
            fetch_request::FetchTopic::default().with_topic_id(mine)
        ]),
    );
    assert!(ctx.is_none());
    assert!(!response_carries_names(ApiKey::Fetch, 13));
    assert!(response_carries_names(ApiKey::Fetch, 12));
}

#[test]
fn delete_topics_by_foreign_id_is_a_stand_in() {
    let c = new_case();
    let theirs = Uuid::from_u128(2);
    c.ids.learn(theirs, &s("b.orders"));
    let (up, _) = c.up(
        ApiKey::DeleteTopics,
        6,
        DeleteTopicsRequest::default().with_topics(vec![
            delete_topics_request::DeleteTopicState::default().with_topic_id(theirs),
        ]),
    );
    assert_ne!(up.topics[0].topic_id, theirs);
}

#[test]
fn create_topics_refuses_illegal_names_and_answers_them_with_a_reason() {
    let c = new_case();
    let req = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default().with_name(topic("bad/name")),
        create_topics_request::CreatableTopic::default().with_name(topic("orders")),
    ]);
    let (up, ctx) = c.up(ApiKey::CreateTopics, 7, req);
    assert_eq!(up.topics.len(), 1);
    assert_eq!(&*up.topics[0].name.0, "a.orders");
    let resp = CreateTopicsResponse::default().with_topics(vec![
        create_topics_response::CreatableTopicResult::default().with_name(topic("a.orders")),
    ]);
    let got = c.down(ApiKey::CreateTopics, 7, ctx.as_deref(), resp);
    assert_eq!(got.topics.len(), 2);
    let bad = got
        .topics
        .iter()
        .find(|t| &*t.name.0 == "bad/name")
        .unwrap();
    assert_eq!(bad.error_code, ResponseError::InvalidTopicException.code());
    assert!(bad.error_message.as_deref().unwrap().contains("'/'"));
}

#[test]
fn groups_transactions_and_coordinators() {
    let c = new_case();
    let (up, ctx) = c.up(
        ApiKey::FindCoordinator,
        4,
        FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("tx"), s("b.tx")]),
    );
    assert_eq!(up.coordinator_keys, [s("a.tx"), s("a.b.tx")]);
    let got = c.down(
        ApiKey::FindCoordinator,
        4,
        ctx.as_deref(),
        FindCoordinatorResponse::default().with_coordinators(vec![
            find_coordinator_response::Coordinator::default().with_key(s("a.tx")),
            find_coordinator_response::Coordinator::default().with_key(s("a.b.tx")),
        ]),
    );
    let keys: Vec<_> = got.coordinators.iter().map(|c| c.key.clone()).collect();
    assert_eq!(keys, [s("tx"), s("b.tx")]);

    let (up, _) = c.up(
        ApiKey::TxnOffsetCommit,
        3,
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("tx")))
            .with_group_id(GroupId(s("app")))
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic("orders")),
            ]),
    );
    assert_eq!(&*up.transactional_id.0, "a.tx");
    assert_eq!(&*up.group_id.0, "a.app");
    assert_eq!(&*up.topics[0].name.0, "a.orders");

    let got = c.down(
        ApiKey::ListGroups,
        4,
        Some(&ResponseContext::default()),
        ListGroupsResponse::default().with_groups(vec![
            list_groups_response::ListedGroup::default().with_group_id(GroupId(s("a.app"))),
            list_groups_response::ListedGroup::default().with_group_id(GroupId(s("b.app"))),
        ]),
    );
    assert_eq!(got.groups.len(), 1);
    assert_eq!(&*got.groups[0].group_id.0, "app");
}

#[test]
fn keys_the_test_broker_lacks() {
    let c = new_case();
    let ctx = ResponseContext::default();
    // OffsetDelete
    let (up, _) = c.up(
        ApiKey::OffsetDelete,
        0,
        OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("app")))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default().with_name(topic("o")),
            ]),
    );
    assert_eq!((&*up.group_id.0, &*up.topics[0].name.0), ("a.app", "a.o"));
    // CreatePartitions
    let got = c.down(
        ApiKey::CreatePartitions,
        3,
        Some(&ctx),
        CreatePartitionsResponse::default().with_results(vec![
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(topic("a.o")),
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(topic("b.o")),
        ]),
    );
    assert_eq!(got.results.len(), 1);
    // OffsetForLeaderEpoch
    let (up, _) = c.up(
        ApiKey::OffsetForLeaderEpoch,
        4,
        OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default().with_topic(topic("o")),
        ]),
    );
    assert_eq!(&*up.topics[0].topic.0, "a.o");
    // DescribeProducers
    let got = c.down(
        ApiKey::DescribeProducers,
        0,
        Some(&ctx),
        DescribeProducersResponse::default().with_topics(vec![
            describe_producers_response::TopicResponse::default().with_name(topic("b.o")),
        ]),
    );
    assert!(got.topics.is_empty());
    // DescribeTransactions
    let got = c.down(
        ApiKey::DescribeTransactions,
        0,
        Some(&ctx),
        DescribeTransactionsResponse::default().with_transaction_states(vec![
            describe_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(s("a.tx")))
                .with_topics(vec![
                    describe_transactions_response::TopicData::default().with_topic(topic("a.o"))
                ]),
            describe_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(s("b.tx"))),
        ]),
    );
    assert_eq!(got.transaction_states.len(), 1);
    assert_eq!(&*got.transaction_states[0].topics[0].topic.0, "o");
    // ListTransactions: the pattern only matches inside the tenant's prefix.
    let (up, _) = c.up(
        ApiKey::ListTransactions,
        2,
        ListTransactionsRequest::default().with_transactional_id_pattern(Some(s("tx.*"))),
    );
    assert_eq!(up.transactional_id_pattern.as_deref(), Some("a\\.(?:tx.*)"));
    // ConsumerGroupHeartbeat
    let (up, _) = c.up(
        ApiKey::ConsumerGroupHeartbeat,
        0,
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("app")))
            .with_subscribed_topic_names(Some(vec![topic("o")])),
    );
    assert_eq!(&*up.group_id.0, "a.app");
    assert_eq!(&*up.subscribed_topic_names.unwrap()[0].0, "a.o");
    // AlterConfigs: a broker resource is cluster-wide and refused with a reason.
    let (up, actx) = c.up(
        ApiKey::AlterConfigs,
        2,
        AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("0")),
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("o")),
        ]),
    );
    assert_eq!(up.resources.len(), 1);
    assert_eq!(&*up.resources[0].resource_name, "a.o");
    let got = c.down(
        ApiKey::AlterConfigs,
        2,
        actx.as_deref(),
        AlterConfigsResponse::default().with_responses(vec![
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(2)
                .with_resource_name(s("a.o")),
        ]),
    );
    assert_eq!(got.responses.len(), 2);
    assert_eq!(
        got.responses[0].error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );
    assert_eq!(&*got.responses[1].resource_name, "o");
}

#[test]
fn produce_names_are_spliced_around_records_that_are_not_copied() {
    let c = new_case();
    let records = Bytes::from(vec![7u8; 4096]);
    for version in [3, 7, 9, 11] {
        let body = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_acks(-1)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic("orders"))
                    .with_partition_data(vec![produce_request::PartitionProduceData::default()
                        .with_records(Some(records.clone()))]),
                produce_request::TopicProduceData::default()
                    .with_name(topic("b.payments"))
                    .with_partition_data(vec![]),
            ]);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version);
        let frame = encode_request(&header, &body).unwrap();
        let (chunks, _) = c
            .session
            .request(ApiKey::Produce, version, frame.clone())
            .unwrap();
        // The record bytes go out as a slice of the client's frame, not a copy.
        let start = frame.as_ptr() as usize;
        let within = |b: &Bytes| {
            let p = b.as_ptr() as usize;
            p >= start && p + b.len() <= start + frame.len()
        };
        assert!(
            chunks.iter().any(|b| b.len() > 4096 && within(b)),
            "v{version}"
        );

        let (_, up) = decode_request::<ProduceRequest>(&chunks.concat().into()).unwrap();
        let expected = body
            .clone()
            .with_transactional_id(Some(TransactionalId(s("a.tx"))))
            .with_topic_data({
                let mut t = body.topic_data.clone();
                t[0].name = topic("a.orders");
                t[1].name = topic("a.b.payments");
                t
            });
        assert_eq!(up, expected, "v{version}");
    }
}

/// A Produce forwarded before all of it arrived: its head is mapped, its rest follows
/// unchanged, and the upstream gets exactly what mapping the whole frame gives.
#[test]
fn a_produce_mapped_from_its_head_equals_one_mapped_whole() {
    use gatehouse_protocol::name_spans::{produce_head_names, produce_names, ProduceHead};
    let c = new_case();
    let records = Bytes::from((0..4096u32).map(|i| i as u8).collect::<Vec<_>>());
    for version in [3, 7, 9, 11, 12] {
        let partition = |i| {
            produce_request::PartitionProduceData::default()
                .with_index(i)
                .with_records(Some(records.clone()))
        };
        let body = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_acks(-1)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic("orders"))
                .with_partition_data(vec![partition(0), partition(1)])]);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version);
        let frame = encode_request(&header, &body).unwrap();
        let (whole, _) = c
            .session
            .request(ApiKey::Produce, version, frame.clone())
            .unwrap();
        let name_end = produce_names(&frame, version).unwrap().topics[0].end;
        for cut in [name_end, name_end + 7, name_end + 600, frame.len() - 1] {
            let head = frame.slice(..cut);
            let ProduceHead::Names(names) = produce_head_names(&head, version) else {
                panic!("v{version} cut {cut}: names not found in the head");
            };
            let (pieces, plan) = c
                .session
                .produce_head(version, head, names)
                .unwrap()
                .unwrap();
            assert!(matches!(plan, ResponsePlan::Map(_)), "v{version}");
            let mut got = pieces.concat();
            got.extend_from_slice(&frame[cut..]);
            assert_eq!(got, whole.concat(), "v{version} cut {cut}");
        }
    }
}

#[test]
fn produce_responses_are_unprefixed_without_decoding_and_foreign_names_dropped() {
    let c = new_case();
    let partition = produce_response::PartitionProduceResponse::default()
        .with_base_offset(42)
        .with_error_message(Some(s("some message")))
        .with_record_errors(vec![produce_response::BatchIndexAndErrorMessage::default()
            .with_batch_index(1)
            .with_batch_index_error_message(Some(s("bad")))])
        .with_current_leader(
            produce_response::LeaderIdAndEpoch::default().with_leader_id(BrokerId(3)),
        );
    let topic_response = |n: &str| {
        produce_response::TopicProduceResponse::default()
            .with_name(topic(n))
            .with_partition_responses(vec![partition.clone()])
    };
    let response = |names: &[&str]| {
        ProduceResponse::default()
            .with_throttle_time_ms(5)
            .with_responses(names.iter().map(|n| topic_response(n)).collect())
    };
    let empty = ResponseContext::default();
    for version in 3..=12 {
        // The spliced frame is byte for byte what encoding the un-prefixed response gives.
        let header = ResponseHeader::default().with_correlation_id(9);
        let up = encode_response(
            &header,
            &response(&["a.orders", "a.payments"]),
            ApiKey::Produce,
            version,
        )
        .unwrap();
        let got = c
            .session
            .response(&empty, ResponseMessage::new(ApiKey::Produce, version, up))
            .unwrap();
        let expected = encode_response(
            &header,
            &response(&["orders", "payments"]),
            ApiKey::Produce,
            version,
        )
        .unwrap();
        assert_eq!(Bytes::from(got.concat()), expected, "v{version}");

        // An upstream answering for a topic the tenant does not own: dropped, not shown.
        let got = c.down(
            ApiKey::Produce,
            version,
            None,
            response(&["a.orders", "b.orders"]),
        );
        let as_sent =
            encode_response(&header, &response(&["orders"]), ApiKey::Produce, version).unwrap();
        let expected = decode_response::<ProduceResponse>(&as_sent, ApiKey::Produce, version)
            .unwrap()
            .1;
        assert_eq!(got, expected, "v{version}");
    }
    // A malformed response is an error, not a guess.
    let header = ResponseHeader::default().with_correlation_id(9);
    let up = encode_response(&header, &response(&["a.orders"]), ApiKey::Produce, 9).unwrap();
    assert!(c
        .session
        .response(
            &empty,
            ResponseMessage::new(ApiKey::Produce, 9, up.slice(..up.len() - 3))
        )
        .is_err());
}

#[test]
fn fetch_responses_are_unprefixed_around_records_that_are_not_copied() {
    let c = new_case();
    let records = Bytes::from(vec![7u8; 4096]);
    let partition = |i: i32| {
        fetch_response::PartitionData::default()
            .with_partition_index(i)
            .with_high_watermark(10)
            .with_records(Some(records.clone()))
    };
    let response = |names: &[&str]| {
        FetchResponse::default().with_responses(
            names
                .iter()
                .map(|n| {
                    fetch_response::FetchableTopicResponse::default()
                        .with_topic(topic(n))
                        .with_partitions(vec![partition(0), partition(1)])
                })
                .collect(),
        )
    };
    let empty = ResponseContext::default();
    let header = ResponseHeader::default().with_correlation_id(9);
    for version in 4..=12 {
        let up = encode_response(
            &header,
            &response(&["a.orders", "a.payments"]),
            ApiKey::Fetch,
            version,
        )
        .unwrap();
        let pieces = c
            .session
            .response(
                &empty,
                ResponseMessage::new(ApiKey::Fetch, version, up.clone()),
            )
            .unwrap();
        // Each partition's records go on as a slice of the upstream's frame, not a copy.
        let start = up.as_ptr() as usize;
        let sliced: usize = pieces
            .iter()
            .filter(|b| {
                let p = b.as_ptr() as usize;
                p >= start && p + b.len() <= start + up.len()
            })
            .map(|b| b.len())
            .sum();
        assert!(sliced >= 4 * 4096, "v{version}: {sliced} bytes sliced");
        let copied = pieces.iter().map(|b| b.len()).sum::<usize>() - sliced;
        assert!(copied < 200, "v{version}: {copied} bytes copied");
        let expected = encode_response(
            &header,
            &response(&["orders", "payments"]),
            ApiKey::Fetch,
            version,
        )
        .unwrap();
        assert_eq!(Bytes::from(pieces.concat()), expected, "v{version}");

        // Another tenant's topic in the answer: dropped by the decoding path.
        let got = c.down(
            ApiKey::Fetch,
            version,
            None,
            response(&["a.orders", "b.orders"]),
        );
        assert_eq!(got.responses.len(), 1, "v{version}");
        assert_eq!(got.responses[0].topic, topic("orders"), "v{version}");
    }
}
