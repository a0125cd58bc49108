//! Golden cases for alias topics: tenant `a` (prefix `a.`) with a READ alias `orders` → home
//! `sales.orders`, a WRITE alias `feedback` → home `partner-feedback`, and a READ alias
//! `returns` → `returns` on the further domain `d2`.

mod common;

use std::sync::Arc;

use common::{s, topic, Case};

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use gatehouse_protocol::codec::{decode_request, decode_response, encode_request, encode_response};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_protocol::name_spans::produce_names;
use gatehouse_tenancy::names::UNREACHABLE;
use gatehouse_tenancy::{Access, Alias, Aliases, Tenant, TopicIds};

fn alias(name: &str, physical: &str, domain: Option<&str>, access: Access) -> Alias {
    Alias {
        name: name.into(),
        physical: physical.into(),
        domain: domain.map(str::to_string),
        access,
    }
}

fn tenant() -> Arc<Tenant> {
    Arc::new(Tenant::new("a", "a.").with_aliases(Aliases::new([
        alias("orders", "sales.orders", None, Access::Read),
        alias("feedback", "partner-feedback", None, Access::Write),
        alias("returns", "returns", Some("d2"), Access::Read),
    ])))
}

fn home() -> Case {
    Case::of(tenant())
}

/// The same tenant's view of d2.
fn on_d2() -> Case {
    let ids = Arc::new(TopicIds::default());
    let session = home().session.on_further_domain("d2".into(), ids.clone());
    Case { session, ids }
}

fn id(n: u64) -> Uuid {
    Uuid::from_u64_pair(0x4000_0000_0000_4000, n)
}

fn metadata_topic(name: &str, id: Uuid) -> metadata_response::MetadataResponseTopic {
    metadata_response::MetadataResponseTopic::default()
        .with_name(Some(topic(name)))
        .with_topic_id(id)
}

#[test]
fn metadata_shows_aliases_under_their_names_and_nothing_else() {
    let c = home();
    let names = ["inbox", "orders", "feedback", "returns"];
    let req = MetadataRequest::default().with_topics(Some(
        names
            .iter()
            .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n))))
            .collect(),
    ));
    let (up, ctx) = c.up(ApiKey::Metadata, 12, req);
    let up: Vec<String> = up
        .topics
        .unwrap()
        .iter()
        .map(|t| t.name.as_ref().unwrap().0.to_string())
        .collect();
    // `returns` lives on d2: the gateway asks d2 for it (alias_metadata_requests), and the
    // home domain's answer holds a retriable placeholder for it.
    assert_eq!(up, ["a.inbox", "sales.orders", "partner-feedback"]);

    let (orders_id, secret_id) = (id(1), id(2));
    let resp = MetadataResponse::default().with_topics(vec![
        metadata_topic("a.inbox", id(4)),
        metadata_topic("sales.orders", orders_id),
        metadata_topic("partner-feedback", id(5)),
        // Physical topics neither the tenant's nor aliased, and a prefixed topic an alias
        // shadows: none of them is shown.
        metadata_topic("sales.secret", secret_id),
        metadata_topic("a.orders", id(6)),
        metadata_topic("returns", id(7)),
    ]);
    let down = c.down(ApiKey::Metadata, 12, ctx.as_deref(), resp);
    let shown: Vec<(String, i16)> = (down.topics.iter())
        .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.error_code))
        .collect();
    let placeholder = ResponseError::LeaderNotAvailable.code();
    let expected = [
        ("inbox", 0),
        ("orders", 0),
        ("feedback", 0),
        ("returns", placeholder),
    ];
    assert_eq!(shown, expected.map(|(n, e)| (n.to_string(), e)));
    // What the gateway asks d2: the physical name, never creating it; nothing else.
    let request = |topics: Option<Vec<metadata_request::MetadataRequestTopic>>| {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12);
        let body = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(true);
        encode_request(&header, &body).unwrap()
    };
    let named = names
        .iter()
        .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n))));
    let asked = (c.session)
        .alias_metadata_requests(12, &request(Some(named.collect())))
        .unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "d2");
    let (_, d2) = decode_request::<MetadataRequest>(&asked[0].1).unwrap();
    assert!(!d2.allow_auto_topic_creation);
    let d2: Vec<&str> = (d2.topics.iter().flatten())
        .map(|t| t.name.as_ref().unwrap().0.as_str())
        .collect();
    assert_eq!(d2, ["returns"]);
    // Every topic asked for: every alias of d2. Only home topics, or none: d2 is still asked,
    // for its brokers (one cluster, one broker list, whatever the topics).
    let d2_topics = |asked: Vec<(String, Bytes)>| -> Vec<Option<Vec<String>>> {
        (asked.iter())
            .map(|(_, f)| decode_request::<MetadataRequest>(f).unwrap().1.topics)
            .map(|ts| {
                ts.map(|ts| {
                    ts.iter()
                        .map(|t| t.name.as_ref().unwrap().0.to_string())
                        .collect()
                })
            })
            .collect()
    };
    let all = c
        .session
        .alias_metadata_requests(12, &request(None))
        .unwrap();
    assert_eq!(d2_topics(all), [Some(vec!["returns".to_string()])]);
    let inbox = metadata_request::MetadataRequestTopic::default().with_name(Some(topic("inbox")));
    let home_only = c
        .session
        .alias_metadata_requests(12, &request(Some(vec![inbox])));
    assert_eq!(d2_topics(home_only.unwrap()), [Some(vec![])]);
    let none = c
        .session
        .alias_metadata_requests(12, &request(Some(vec![])));
    assert_eq!(d2_topics(none.unwrap()), [Some(vec![])]);

    // The alias's topic id was learned with its name: a Fetch by that id goes through, one by
    // the hidden topic's id does not.
    let fetch = FetchRequest::default().with_topics(vec![
        fetch_request::FetchTopic::default().with_topic_id(orders_id),
        fetch_request::FetchTopic::default().with_topic_id(secret_id),
    ]);
    let (up, _) = c.up(ApiKey::Fetch, 13, fetch);
    assert_eq!(up.topics[0].topic_id, orders_id);
    assert_ne!(
        up.topics[1].topic_id, secret_id,
        "a hidden topic's id must never reach the upstream"
    );
    assert!(c.ids.name(orders_id).is_some());
}

fn produce(topics: &[&str]) -> ProduceRequest {
    ProduceRequest::default().with_acks(-1).with_topic_data(
        topics
            .iter()
            .map(|n| {
                produce_request::TopicProduceData::default()
                    .with_name(topic(n))
                    .with_partition_data(vec![produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from_static(b"records")))])
            })
            .collect(),
    )
}

#[test]
fn producing_to_a_read_alias_is_refused_per_topic_and_a_write_alias_goes_to_its_physical_topic() {
    let c = home();
    for version in [3, 9, 12] {
        let (up, ctx) = c.up(
            ApiKey::Produce,
            version,
            produce(&["inbox", "orders", "feedback"]),
        );
        let up: Vec<String> = up.topic_data.iter().map(|t| t.name.0.to_string()).collect();
        assert_eq!(up, ["a.inbox", "partner-feedback"], "v{version}");

        let answer = |name: &str| {
            produce_response::TopicProduceResponse::default()
                .with_name(topic(name))
                .with_partition_responses(vec![
                    produce_response::PartitionProduceResponse::default(),
                ])
        };
        let resp = ProduceResponse::default()
            .with_responses(vec![answer("a.inbox"), answer("partner-feedback")]);
        let down = c.down(ApiKey::Produce, version, ctx.as_deref(), resp);
        let got: Vec<(String, i16)> = down
            .responses
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_responses[0].error_code))
            .collect();
        let refused = ResponseError::TopicAuthorizationFailed.code();
        assert_eq!(
            got,
            [
                ("inbox".into(), 0),
                ("orders".into(), refused),
                ("feedback".into(), 0)
            ],
            "v{version}"
        );
    }
}

#[test]
fn a_produce_head_with_a_read_alias_asks_for_the_whole_frame_one_without_does_not() {
    let c = home();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(9);
    for (topics, respelled) in [
        (&["feedback", "inbox"][..], true),
        (&["inbox", "orders"][..], false),
    ] {
        let frame = encode_request(&header, &produce(topics)).unwrap();
        let names = produce_names(&frame, 9).unwrap();
        let mapped = c.session.produce_head(9, frame, names).unwrap();
        assert_eq!(mapped.is_some(), respelled, "{topics:?}");
    }
}

#[test]
fn an_alias_cannot_be_created_deleted_repartitioned_or_reconfigured() {
    let c = home();
    let (up, ctx) = c.up(
        ApiKey::CreateTopics,
        5,
        CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default().with_name(topic("orders")),
            create_topics_request::CreatableTopic::default().with_name(topic("fresh")),
        ]),
    );
    assert_eq!(up.topics.len(), 1);
    assert_eq!(&*up.topics[0].name.0, "a.fresh");
    let down = c.down(
        ApiKey::CreateTopics,
        5,
        ctx.as_deref(),
        CreateTopicsResponse::default().with_topics(vec![
            create_topics_response::CreatableTopicResult::default().with_name(topic("a.fresh")),
        ]),
    );
    assert_eq!(&*down.topics[0].name.0, "orders");
    assert_eq!(
        down.topics[0].error_code,
        ResponseError::TopicAlreadyExists.code()
    );

    let refused = ResponseError::TopicAuthorizationFailed.code();
    let (up, ctx) = c.up(
        ApiKey::DeleteTopics,
        6,
        DeleteTopicsRequest::default()
            .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                .with_name(Some(topic("feedback")))]),
    );
    assert!(up.topics.is_empty());
    let down = c.down(
        ApiKey::DeleteTopics,
        6,
        ctx.as_deref(),
        DeleteTopicsResponse::default(),
    );
    assert_eq!(down.responses[0].error_code, refused);
    assert_eq!(
        down.responses[0].name.as_ref().unwrap().0.as_str(),
        "feedback"
    );

    let (up, ctx) = c.up(
        ApiKey::DeleteRecords,
        2,
        DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(3),
                ]),
        ]),
    );
    assert!(up.topics.is_empty());
    let down = c.down(
        ApiKey::DeleteRecords,
        2,
        ctx.as_deref(),
        DeleteRecordsResponse::default(),
    );
    assert_eq!(down.topics[0].partitions[0].partition_index, 3);
    assert_eq!(down.topics[0].partitions[0].error_code, refused);

    let (up, ctx) = c.up(
        ApiKey::CreatePartitions,
        3,
        CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default().with_name(topic("orders")),
        ]),
    );
    assert!(up.topics.is_empty());
    let down = c.down(
        ApiKey::CreatePartitions,
        3,
        ctx.as_deref(),
        CreatePartitionsResponse::default(),
    );
    assert_eq!(down.results[0].error_code, refused);

    let (up, ctx) = c.up(
        ApiKey::IncrementalAlterConfigs,
        1,
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders")),
        ]),
    );
    assert!(up.resources.is_empty());
    let down = c.down(
        ApiKey::IncrementalAlterConfigs,
        1,
        ctx.as_deref(),
        IncrementalAlterConfigsResponse::default(),
    );
    assert_eq!(down.responses[0].error_code, refused);
}

#[test]
fn on_a_further_domain_only_its_aliases_exist() {
    let c = on_d2();
    let fetch = FetchRequest::default().with_topics(vec![
        fetch_request::FetchTopic::default().with_topic(topic("returns")),
        fetch_request::FetchTopic::default().with_topic(topic("inbox")),
        fetch_request::FetchTopic::default().with_topic(topic("orders")),
    ]);
    let (up, ctx) = c.up(ApiKey::Fetch, 12, fetch);
    let up: Vec<String> = up.topics.iter().map(|t| t.topic.0.to_string()).collect();
    assert_eq!(
        up,
        [
            "returns".to_string(),
            format!("{UNREACHABLE}inbox"),
            format!("{UNREACHABLE}orders")
        ]
    );

    let resp = FetchResponse::default().with_responses(
        ["returns", "a.inbox", "sales.orders", "other"]
            .iter()
            .map(|n| fetch_response::FetchableTopicResponse::default().with_topic(topic(n)))
            .collect(),
    );
    let down = c.down(ApiKey::Fetch, 12, ctx.as_deref(), resp);
    let shown: Vec<&str> = down.responses.iter().map(|t| t.topic.0.as_str()).collect();
    assert_eq!(shown, ["returns"]);

    // The group is the tenant's there too: offsets of d2's partitions are committed on d2
    // under the prefixed group name.
    let (up, _) = c.up(
        ApiKey::OffsetCommit,
        8,
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("readers")))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("returns")),
            ]),
    );
    assert_eq!(&*up.group_id.0, "a.readers");
    assert_eq!(&*up.topics[0].name.0, "returns");
}

#[test]
fn a_groups_offsets_are_split_per_domain_and_merged_back() {
    let c = home();
    let view = |d: &str| {
        c.session
            .on_further_domain(d.into(), Arc::new(TopicIds::default()))
    };
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("readers")))
        .with_generation_id_or_member_epoch(7)
        .with_member_id(s("member-1"))
        .with_topics(
            ["inbox", "returns", "orders"]
                .iter()
                .map(|n| {
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic(n))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_committed_offset(42),
                        ])
                })
                .collect(),
        );
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::OffsetCommit as i16)
        .with_request_api_version(8)
        .with_correlation_id(5);
    let frame = encode_request(&header, &commit).unwrap();
    let parts = (c.session)
        .split_by_domain(ApiKey::OffsetCommit, 8, &frame, |d| d == "d2", view)
        .unwrap()
        .expect("topics on two domains");
    assert_eq!(parts.len(), 2);
    let (_, home) = decode_request::<OffsetCommitRequest>(&parts[0].frame).unwrap();
    assert_eq!(parts[0].domain, None);
    assert_eq!(&*home.group_id.0, "a.readers");
    assert_eq!(home.generation_id_or_member_epoch, 7);
    let names: Vec<&str> = home.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(names, ["a.inbox", "sales.orders"]);
    let (_, d2) = decode_request::<OffsetCommitRequest>(&parts[1].frame).unwrap();
    assert_eq!(parts[1].domain.as_deref(), Some("d2"));
    assert_eq!(&*parts[1].group, "a.readers");
    assert_eq!(&*d2.group_id.0, "a.readers");
    // d2's coordinator has no members of the group: a simple commit there.
    assert_eq!(
        (d2.generation_id_or_member_epoch, d2.member_id.as_str()),
        (-1, "")
    );
    let names: Vec<&str> = d2.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(names, ["returns"]);

    // Each answer un-mapped in its part's view (d2's "a.inbox" is not the tenant's there),
    // then merged.
    let answer = |names: &[&str]| {
        let body = OffsetCommitResponse::default().with_topics(
            names
                .iter()
                .map(|n| {
                    offset_commit_response::OffsetCommitResponseTopic::default().with_name(topic(n))
                })
                .collect(),
        );
        encode_response(
            &ResponseHeader::default().with_correlation_id(1),
            &body,
            ApiKey::OffsetCommit,
            8,
        )
        .unwrap()
    };
    let answers = [
        answer(&["a.inbox", "sales.orders"]),
        answer(&["returns", "a.inbox"]),
    ];
    let unmapped: Vec<Bytes> = parts
        .iter()
        .zip(answers)
        .map(|(p, a)| {
            let pieces = p
                .session
                .response(&p.ctx, ResponseMessage::new(ApiKey::OffsetCommit, 8, a))
                .unwrap();
            Bytes::from(pieces.concat())
        })
        .collect();
    let merged = gatehouse_tenancy::split::merge_parts(ApiKey::OffsetCommit, 8, &unmapped).unwrap();
    let (_, merged) =
        decode_response::<OffsetCommitResponse>(&merged, ApiKey::OffsetCommit, 8).unwrap();
    let names: Vec<&str> = merged.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(names, ["inbox", "orders", "returns"]);

    // Only home topics: not split.
    let home_only = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("readers")))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default().with_name(topic("inbox")),
        ]);
    let frame = encode_request(&header, &home_only).unwrap();
    let split = c
        .session
        .split_by_domain(ApiKey::OffsetCommit, 8, &frame, |d| d == "d2", view);
    assert!(split.unwrap().is_none());
    // A domain the route does not show: not split either (the home broker answers for it).
    let frame = encode_request(&header, &commit).unwrap();
    let split = c
        .session
        .split_by_domain(ApiKey::OffsetCommit, 8, &frame, |_| false, view);
    assert!(split.unwrap().is_none());
}

#[test]
fn fetching_every_committed_offset_asks_every_domain() {
    let c = home();
    let view = |d: &str| {
        c.session
            .on_further_domain(d.into(), Arc::new(TopicIds::default()))
    };
    for version in [7, 9] {
        let body = match version {
            7 => OffsetFetchRequest::default()
                .with_group_id(GroupId(s("readers")))
                .with_topics(None),
            _ => OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("readers")))
                    .with_member_epoch(3)
                    .with_topics(None),
            ]),
        };
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::OffsetFetch as i16)
            .with_request_api_version(version);
        let frame = encode_request(&header, &body).unwrap();
        let parts = (c.session)
            .split_by_domain(ApiKey::OffsetFetch, version, &frame, |d| d == "d2", view)
            .unwrap()
            .expect("every domain");
        let domains: Vec<Option<&str>> = parts.iter().map(|p| p.domain.as_deref()).collect();
        assert_eq!(domains, [None, Some("d2")], "v{version}");
        let (_, d2) = decode_request::<OffsetFetchRequest>(&parts[1].frame).unwrap();
        if version >= 8 {
            assert_eq!(&*d2.groups[0].group_id.0, "a.readers");
            assert_eq!(d2.groups[0].member_epoch, -1);
        } else {
            assert_eq!(&*d2.group_id.0, "a.readers");
        }
    }
}

#[test]
fn transactions_take_no_read_alias_and_no_offsets_of_a_further_domain() {
    let c = home();
    let refused = ResponseError::TopicAuthorizationFailed.code();
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s("tx")))
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![0, 1]),
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(topic("feedback"))
                .with_partitions(vec![0]),
        ]);
    let (up, ctx) = c.up(ApiKey::AddPartitionsToTxn, 3, add);
    let names: Vec<&str> = up
        .v3_and_below_topics
        .iter()
        .map(|t| t.name.0.as_str())
        .collect();
    assert_eq!(names, ["partner-feedback"]);
    let down = c.down(
        ApiKey::AddPartitionsToTxn,
        3,
        ctx.as_deref(),
        AddPartitionsToTxnResponse::default(),
    );
    let orders = &down.results_by_topic_v3_and_below[0];
    assert_eq!(&*orders.name.0, "orders");
    let codes: Vec<(i32, i16)> = (orders.results_by_partition.iter())
        .map(|p| (p.partition_index, p.partition_error_code))
        .collect();
    assert_eq!(codes, [(0, refused), (1, refused)]);

    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s("g")))
        .with_topics(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(topic("returns"))
                .with_partitions(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(2),
                ]),
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(topic("orders")),
        ]);
    let (up, ctx) = c.up(ApiKey::TxnOffsetCommit, 3, commit);
    let names: Vec<&str> = up.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(
        names,
        ["sales.orders"],
        "a home READ alias's offsets may be committed in a transaction"
    );
    let down = c.down(
        ApiKey::TxnOffsetCommit,
        3,
        ctx.as_deref(),
        TxnOffsetCommitResponse::default(),
    );
    assert_eq!(&*down.topics[0].name.0, "returns");
    assert_eq!(
        (
            down.topics[0].partitions[0].partition_index,
            down.topics[0].partitions[0].error_code
        ),
        (2, refused)
    );
}

#[test]
fn descriptions_of_a_further_domains_alias_ask_that_domain() {
    let c = home();
    let view = |d: &str| {
        c.session
            .on_further_domain(d.into(), Arc::new(TopicIds::default()))
    };
    let header = |key: ApiKey, v: i16| {
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(v)
    };
    let configs = DescribeConfigsRequest::default().with_resources(
        ["returns", "inbox"]
            .iter()
            .map(|n| {
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(n))
            })
            .collect(),
    );
    let frame = encode_request(&header(ApiKey::DescribeConfigs, 4), &configs).unwrap();
    let parts = (c.session)
        .split_by_domain(ApiKey::DescribeConfigs, 4, &frame, |d| d == "d2", view)
        .unwrap()
        .expect("two domains");
    let asked: Vec<(Option<&str>, Vec<String>)> = parts
        .iter()
        .map(|p| {
            let (_, r) = decode_request::<DescribeConfigsRequest>(&p.frame).unwrap();
            let names = r
                .resources
                .iter()
                .map(|x| x.resource_name.to_string())
                .collect();
            (p.domain.as_deref(), names)
        })
        .collect();
    assert_eq!(
        asked,
        [
            (None, vec!["a.inbox".to_string()]),
            (Some("d2"), vec!["returns".to_string()])
        ]
    );

    let dtp = DescribeTopicPartitionsRequest::default().with_topics(
        ["returns", "orders"]
            .iter()
            .map(|n| describe_topic_partitions_request::TopicRequest::default().with_name(topic(n)))
            .collect(),
    );
    let frame = encode_request(&header(ApiKey::DescribeTopicPartitions, 0), &dtp).unwrap();
    let parts = (c.session)
        .split_by_domain(
            ApiKey::DescribeTopicPartitions,
            0,
            &frame,
            |d| d == "d2",
            view,
        )
        .unwrap()
        .expect("two domains");
    assert_eq!(parts.len(), 2);
    // The answers, un-mapped in their views, merged and sorted by name.
    let answer = |names: &[&str]| {
        let body = DescribeTopicPartitionsResponse::default().with_topics(
            names
                .iter()
                .map(|n| {
                    describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(topic(n)))
                })
                .collect(),
        );
        let h = ResponseHeader::default();
        encode_response(&h, &body, ApiKey::DescribeTopicPartitions, 0).unwrap()
    };
    let answers = [answer(&["sales.orders"]), answer(&["returns"])];
    let unmapped: Vec<Bytes> = parts
        .iter()
        .zip(answers)
        .map(|(p, a)| {
            let m = ResponseMessage::new(ApiKey::DescribeTopicPartitions, 0, a);
            Bytes::from(p.session.response(&p.ctx, m).unwrap().concat())
        })
        .collect();
    let merged =
        gatehouse_tenancy::split::merge_parts(ApiKey::DescribeTopicPartitions, 0, &unmapped)
            .unwrap();
    let (_, merged) = decode_response::<DescribeTopicPartitionsResponse>(
        &merged,
        ApiKey::DescribeTopicPartitions,
        0,
    )
    .unwrap();
    let names: Vec<&str> = (merged.topics.iter())
        .map(|t| t.name.as_ref().unwrap().0.as_str())
        .collect();
    assert_eq!(names, ["orders", "returns"]);
}

#[test]
fn an_answer_from_a_moved_coordinator_is_recognised() {
    use gatehouse_tenancy::split::coordinator_moved;
    let commit = |code: i16| {
        let body = OffsetCommitResponse::default().with_topics(vec![
            offset_commit_response::OffsetCommitResponseTopic::default()
                .with_name(topic("returns"))
                .with_partitions(vec![
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_error_code(code),
                ]),
        ]);
        encode_response(&ResponseHeader::default(), &body, ApiKey::OffsetCommit, 8).unwrap()
    };
    assert!(coordinator_moved(
        ApiKey::OffsetCommit,
        8,
        &commit(ResponseError::NotCoordinator.code())
    ));
    assert!(!coordinator_moved(ApiKey::OffsetCommit, 8, &commit(0)));
    let fetch = OffsetFetchResponse::default().with_groups(vec![
        offset_fetch_response::OffsetFetchResponseGroup::default()
            .with_group_id(GroupId(s("a.g")))
            .with_error_code(ResponseError::CoordinatorNotAvailable.code()),
    ]);
    let frame =
        encode_response(&ResponseHeader::default(), &fetch, ApiKey::OffsetFetch, 8).unwrap();
    assert!(coordinator_moved(ApiKey::OffsetFetch, 8, &frame));
    assert!(!coordinator_moved(
        ApiKey::OffsetFetch,
        8,
        &Bytes::from_static(b"\0\0\0\x01")
    ));
}
