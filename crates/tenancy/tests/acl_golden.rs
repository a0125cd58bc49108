//! Golden cases of gateway-side ACLs: what a client's ACLs let go upstream, what the gateway
//! answers itself, and with which of Kafka's error codes.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use common::{s, topic, Case};
use gatehouse_protocol::codec::{decode_response, encode_request};
use gatehouse_tenancy::acl::kafka_api::{self, AclChange, AclFilter, AclRequest, PatternFilter};
use gatehouse_tenancy::acl::{
    AclEntry, AclHost, AclPrincipal, Acls, ClientAcls, Operation, PatternType, Permission,
    ResourceType,
};
use gatehouse_tenancy::Tenant;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn entry(
    resource_type: ResourceType,
    name: &str,
    pattern: PatternType,
    user: &str,
    operation: Operation,
    permission: Permission,
) -> AclEntry {
    AclEntry {
        resource_type,
        name: name.into(),
        pattern,
        principal: AclPrincipal::parse(&format!("User:{user}")).unwrap(),
        host: AclHost::Any,
        operation,
        permission,
    }
}

fn allow(t: ResourceType, name: &str, p: PatternType, op: Operation) -> AclEntry {
    entry(t, name, p, "alice", op, Permission::Allow)
}

/// Tenant `a` (prefix `a.`): alice may READ `orders` and every topic starting `pub-` except
/// `pub-secret` (DENY), READ group `app`, WRITE `events`; `admin` is a super user.
fn acls() -> Vec<AclEntry> {
    use Operation::*;
    use PatternType::*;
    use ResourceType::*;
    vec![
        allow(Topic, "orders", Literal, Read),
        allow(Topic, "pub-", Prefixed, Read),
        entry(
            Topic,
            "pub-secret",
            Literal,
            "alice",
            Read,
            Permission::Deny,
        ),
        allow(Topic, "events", Literal, Write),
        allow(Group, "app", Literal, Read),
    ]
}

fn case_as(user: &str) -> Case {
    let acls = Arc::new(Acls::new(acls(), ["admin"]));
    let tenant = Arc::new(Tenant::new("a", "a.").with_acls(Some(acls)));
    let mut c = Case::of(tenant);
    c.session = c.session.clone().for_client(user, HOST);
    c
}

fn fetch_topic(name: &str) -> fetch_request::FetchTopic {
    fetch_request::FetchTopic::default()
        .with_topic(topic(name))
        .with_partitions(vec![
            fetch_request::FetchPartition::default().with_partition(0)
        ])
}

#[test]
fn a_fetch_goes_up_with_the_readable_topics_and_answers_the_others_refused() {
    let c = case_as("alice");
    let request = FetchRequest::default().with_topics(vec![
        fetch_topic("orders"),
        fetch_topic("returns"),
        fetch_topic("pub-news"),
        fetch_topic("pub-secret"),
    ]);
    let (up, ctx) = c.up(ApiKey::Fetch, 12, request);
    let sent: Vec<&str> = up.topics.iter().map(|t| t.topic.0.as_str()).collect();
    assert_eq!(
        sent,
        ["a.orders", "a.pub-news"],
        "DENY beats the PREFIXED ALLOW"
    );

    let answer = FetchResponse::default().with_responses(vec![
        fetch_response::FetchableTopicResponse::default().with_topic(topic("a.orders")),
        fetch_response::FetchableTopicResponse::default().with_topic(topic("a.pub-news")),
    ]);
    let down = c.down(ApiKey::Fetch, 12, ctx.as_deref(), answer);
    let got: Vec<(&str, i16)> = (down.responses.iter())
        .map(|t| {
            let code = t.partitions.first().map_or(0, |p| p.error_code);
            (t.topic.0.as_str(), code)
        })
        .collect();
    let refused = ResponseError::TopicAuthorizationFailed.code();
    assert_eq!(
        got,
        [
            ("orders", 0),
            ("returns", refused),
            ("pub-news", 0),
            ("pub-secret", refused)
        ]
    );
}

#[test]
fn metadata_hides_what_the_client_may_not_describe_and_creates_nothing_it_may_not_create() {
    let c = case_as("alice");
    // Every topic: the answer leaves out the ones alice may not DESCRIBE.
    let (_, ctx) = c.up(
        ApiKey::Metadata,
        12,
        MetadataRequest::default().with_topics(None),
    );
    let t = |n: &str| metadata_response::MetadataResponseTopic::default().with_name(Some(topic(n)));
    let answer = MetadataResponse::default().with_topics(vec![
        t("a.orders"),
        t("a.returns"),
        t("a.events"),
        t("a.pub-secret"),
    ]);
    let down = c.down(ApiKey::Metadata, 12, ctx.as_deref(), answer);
    let shown: Vec<&str> = (down.topics.iter())
        .map(|t| t.name.as_ref().unwrap().0.as_str())
        .collect();
    // WRITE implies DESCRIBE; a DENY of READ leaves DESCRIBE to the ALLOWs (Kafka's rule).
    assert_eq!(shown, ["orders", "events", "pub-secret"]);

    // Named: refused by name, and auto-creation off (alice may CREATE nothing).
    let named = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders"))),
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic("returns"))),
        ]));
    let (up, ctx) = c.up(ApiKey::Metadata, 12, named);
    assert!(!up.allow_auto_topic_creation);
    let asked: Vec<&str> = (up.topics.iter().flatten())
        .map(|t| t.name.as_ref().unwrap().0.as_str())
        .collect();
    assert_eq!(asked, ["a.orders"]);
    let down = c.down(
        ApiKey::Metadata,
        12,
        ctx.as_deref(),
        MetadataResponse::default().with_topics(vec![t("a.orders")]),
    );
    let codes: Vec<(&str, i16)> = (down.topics.iter())
        .map(|t| (t.name.as_ref().unwrap().0.as_str(), t.error_code))
        .collect();
    let refused = ResponseError::TopicAuthorizationFailed.code();
    assert_eq!(codes, [("orders", 0), ("returns", refused)]);
}

#[test]
fn a_group_the_client_may_not_read_is_answered_by_the_gateway() {
    let c = case_as("alice");
    let join = |g: &str| JoinGroupRequest::default().with_group_id(GroupId(s(g)));
    let refused: JoinGroupResponse = c.answered(ApiKey::JoinGroup, 9, join("other")).unwrap();
    assert_eq!(
        refused.error_code,
        ResponseError::GroupAuthorizationFailed.code()
    );
    let allowed: Option<JoinGroupResponse> = c.answered(ApiKey::JoinGroup, 9, join("app"));
    assert!(allowed.is_none(), "group app goes upstream");

    // An offset commit for a group it may not read: every partition refused, nothing sent.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("other")))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(3),
                ]),
        ]);
    let answer: OffsetCommitResponse = c.answered(ApiKey::OffsetCommit, 8, commit).unwrap();
    let p = &answer.topics[0].partitions[0];
    assert_eq!(
        (answer.topics[0].name.0.as_str(), p.partition_index),
        ("orders", 3)
    );
    assert_eq!(p.error_code, ResponseError::GroupAuthorizationFailed.code());
}

#[test]
fn producing_needs_write_and_transactions_need_their_id() {
    let c = case_as("alice");
    let produce = ProduceRequest::default().with_topic_data(vec![
        produce_request::TopicProduceData::default()
            .with_name(topic("events"))
            .with_partition_data(vec![produce_request::PartitionProduceData::default()]),
        produce_request::TopicProduceData::default()
            .with_name(topic("orders"))
            .with_partition_data(vec![produce_request::PartitionProduceData::default()]),
    ]);
    let (up, ctx) = c.up(ApiKey::Produce, 9, produce);
    let sent: Vec<&str> = up.topic_data.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(sent, ["a.events"], "READ does not grant WRITE");
    let down = c.down(
        ApiKey::Produce,
        9,
        ctx.as_deref(),
        ProduceResponse::default().with_responses(vec![
            produce_response::TopicProduceResponse::default().with_name(topic("a.events")),
        ]),
    );
    assert_eq!(down.responses[1].name.0.as_str(), "orders");
    assert_eq!(
        down.responses[1].partition_responses[0].error_code,
        ResponseError::TopicAuthorizationFailed.code()
    );

    let init = |txn: Option<&str>| {
        InitProducerIdRequest::default().with_transactional_id(txn.map(|t| TransactionalId(s(t))))
    };
    let r: InitProducerIdResponse = c
        .answered(ApiKey::InitProducerId, 4, init(Some("t1")))
        .unwrap();
    assert_eq!(
        r.error_code,
        ResponseError::TransactionalIdAuthorizationFailed.code()
    );
    // Idempotence: WRITE on some topic is enough (KIP-679).
    let idempotent: Option<InitProducerIdResponse> =
        c.answered(ApiKey::InitProducerId, 4, init(None));
    assert!(idempotent.is_none());
    let bob = case_as("bob");
    let r: InitProducerIdResponse = bob.answered(ApiKey::InitProducerId, 4, init(None)).unwrap();
    assert_eq!(
        r.error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );
}

#[test]
fn super_users_and_tenants_without_acls_are_not_checked() {
    let fetch = || FetchRequest::default().with_topics(vec![fetch_topic("returns")]);
    let admin = case_as("admin");
    assert!(admin.session.client_acls().is_none());
    let (up, _) = admin.up(ApiKey::Fetch, 12, fetch());
    assert_eq!(up.topics.len(), 1);

    let open = Case::of(Arc::new(Tenant::new("a", "a.")));
    let open_session = open.session.clone().for_client("alice", HOST);
    assert!(open_session.client_acls().is_none());
    let (up, _) = open.up(ApiKey::Fetch, 12, fetch());
    assert_eq!(up.topics.len(), 1);
}

#[test]
fn losing_access_is_told_from_gaining_it() {
    let acls = Arc::new(Acls::new(acls(), ["admin"]));
    let alice = ClientAcls::new(&acls, "alice", HOST).unwrap();
    let mut more = acls.entries().to_vec();
    more.push(allow(
        ResourceType::Topic,
        "returns",
        PatternType::Literal,
        Operation::Read,
    ));
    assert!(!alice.may_lose_access(&Acls::new(more.clone(), ["admin"])));
    more.push(entry(
        ResourceType::Topic,
        "orders",
        PatternType::Literal,
        "*",
        Operation::Read,
        Permission::Deny,
    ));
    assert!(alice.may_lose_access(&Acls::new(more, ["admin"])));
    let fewer = acls.entries()[1..].to_vec();
    assert!(alice.may_lose_access(&Acls::new(fewer, ["admin"])));
    // Someone else's entries do not matter to alice.
    let mut others = acls.entries().to_vec();
    others.retain(|e| e.resource_type != ResourceType::Group);
    others.push(entry(
        ResourceType::Group,
        "app",
        PatternType::Literal,
        "alice",
        Operation::Read,
        Permission::Allow,
    ));
    others.push(entry(
        ResourceType::Topic,
        "orders",
        PatternType::Literal,
        "bob",
        Operation::Read,
        Permission::Deny,
    ));
    assert!(!alice.may_lose_access(&Acls::new(others, ["admin"])));
}

fn acl_frame<T: kafka_protocol::protocol::Encodable>(key: ApiKey, body: T) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(2)
        .with_correlation_id(5);
    encode_request(&header, &body).unwrap()
}

#[test]
fn acl_requests_are_answered_from_the_virtual_clusters_own_acls() {
    let acls = Acls::new(acls(), ["admin"]);
    let shared = Arc::new(Acls::new(acls.entries().to_vec(), ["admin"]));
    let alice = ClientAcls::new(&shared, "alice", HOST);
    let describe = acl_frame(
        ApiKey::DescribeAcls,
        DescribeAclsRequest::default()
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_resource_type_filter(2)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    // A super user (no client ACLs) sees the topic entries, grouped by pattern.
    let AclRequest::Answer(frame) = kafka_api::parse(
        "a",
        Some(&acls),
        None,
        ApiKey::DescribeAcls,
        2,
        5,
        &describe,
    )
    .unwrap() else {
        panic!("answered at once")
    };
    let (_, r) = decode_response::<DescribeAclsResponse>(&frame, ApiKey::DescribeAcls, 2).unwrap();
    let names: Vec<&str> = r
        .resources
        .iter()
        .map(|r| r.resource_name.as_str())
        .collect();
    assert_eq!(names, ["orders", "pub-", "pub-secret", "events"]);

    // alice may not DESCRIBE the cluster.
    let AclRequest::Answer(frame) = kafka_api::parse(
        "a",
        Some(&acls),
        alice.as_ref(),
        ApiKey::DescribeAcls,
        2,
        5,
        &describe,
    )
    .unwrap() else {
        panic!("answered at once")
    };
    let (_, r) = decode_response::<DescribeAclsResponse>(&frame, ApiKey::DescribeAcls, 2).unwrap();
    assert_eq!(
        r.error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );

    // Without aclEnabled there are no ACLs to manage.
    let AclRequest::Answer(frame) =
        kafka_api::parse("a", None, None, ApiKey::DescribeAcls, 2, 5, &describe).unwrap()
    else {
        panic!("answered at once")
    };
    let (_, r) = decode_response::<DescribeAclsResponse>(&frame, ApiKey::DescribeAcls, 2).unwrap();
    assert_eq!(r.error_code, ResponseError::SecurityDisabled.code());
    assert!(r.error_message.unwrap().contains("spec.aclEnabled"));

    // A creation with an unknown operation is refused by itself; the other is made.
    let create = acl_frame(
        ApiKey::CreateAcls,
        CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("returns"))
                .with_resource_pattern_type(3)
                .with_principal(s("User:bob"))
                .with_host(s("*"))
                .with_operation(3)
                .with_permission_type(3),
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("x"))
                .with_resource_pattern_type(3)
                .with_principal(s("User:bob"))
                .with_host(s("*"))
                .with_operation(99)
                .with_permission_type(3),
        ]),
    );
    let AclRequest::Change {
        change, refused, ..
    } = kafka_api::parse("a", Some(&acls), None, ApiKey::CreateAcls, 2, 5, &create).unwrap()
    else {
        panic!("a change")
    };
    assert!(refused[0].is_none());
    assert!(refused[1].as_ref().unwrap().1.contains("operation 99"));
    let mut entries = acls.entries().to_vec();
    change.apply(&mut entries);
    assert_eq!(entries.len(), 6);
    let frame =
        kafka_api::answer_change(&change, refused, 5, ApiKey::CreateAcls, 2, Ok(Vec::new()))
            .unwrap();
    let (_, r) = decode_response::<CreateAclsResponse>(&frame, ApiKey::CreateAcls, 2).unwrap();
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, ResponseError::InvalidRequest.code()]);

    // A delete filter by name with MATCH removes the patterns that cover the name.
    let delete = AclChange::Delete(vec![AclFilter {
        resource_type: Some(ResourceType::Topic),
        name: Some("pub-news".into()),
        pattern: PatternFilter::Match,
        principal: None,
        host: None,
        operation: None,
        permission: None,
    }]);
    let removed = delete.apply(&mut entries);
    assert_eq!(removed[0].len(), 1);
    assert_eq!(removed[0][0].name, "pub-");
    assert_eq!(entries.len(), 5);
}

#[test]
fn a_connections_memo_answers_as_the_acls_do_past_its_size() {
    let acls = Arc::new(Acls::new(acls(), ["admin"]));
    let alice = ClientAcls::new(&acls, "alice", HOST).unwrap();
    let names: Vec<String> = (0..3 * gatehouse_tenancy::acl::MEMO_DECISIONS)
        .map(|i| {
            if i % 3 == 0 {
                format!("pub-{i}")
            } else {
                format!("t-{i}")
            }
        })
        .chain(["orders".into(), "pub-secret".into()])
        .collect();
    for round in 0..3 {
        for n in &names {
            let expected = acls.authorize("alice", HOST, Operation::Read, ResourceType::Topic, n);
            assert_eq!(
                alice.allows(Operation::Read, ResourceType::Topic, n),
                expected,
                "{n} round {round}"
            );
            assert_eq!(
                expected,
                n.starts_with("pub-") && n != "pub-secret" || n == "orders"
            );
        }
    }
}

#[test]
fn authorized_operations_are_the_gateways_answer_for_the_principal() {
    let c = case_as("alice");
    let (_, ctx) = c.up(
        ApiKey::Metadata,
        12,
        MetadataRequest::default().with_topics(None),
    );
    // Asked for (the upstream sends its own figure; not asked: i32::MIN stays).
    let t = |n: &str, asked: bool| {
        metadata_response::MetadataResponseTopic::default()
            .with_name(Some(topic(n)))
            .with_topic_authorized_operations(if asked { 0x7fff } else { i32::MIN })
    };
    let answer =
        MetadataResponse::default().with_topics(vec![t("a.orders", true), t("a.events", false)]);
    let down = c.down(ApiKey::Metadata, 12, ctx.as_deref(), answer);
    let read_describe = 1 << Operation::Read.code() | 1 << Operation::Describe.code();
    assert_eq!(down.topics[0].topic_authorized_operations, read_describe);
    assert_eq!(down.topics[1].topic_authorized_operations, i32::MIN);
}
