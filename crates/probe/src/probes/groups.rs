//! Consumer group probes: listing and describing groups, FindCoordinator (for B's group and
//! B's transactional id), OffsetFetch, and the membership requests (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, ConsumerGroupHeartbeat) into B's group.

use kafka_protocol::messages::*;

use super::{ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    let topic = || TopicName(s(&v.topic));
    let group = || GroupId(s(&v.group));
    p.probe::<_, ListGroupsResponse>(
        ApiKey::ListGroups,
        "all groups",
        4,
        Names::Listing,
        ListGroupsRequest::default(),
        &ok,
    );
    p.probe::<_, DescribeGroupsResponse>(
        ApiKey::DescribeGroups,
        "by name",
        5,
        Names::Echoed,
        DescribeGroupsRequest::default().with_groups(vec![group()]),
        &|r| match r.groups.iter().any(|g| !g.members.is_empty()) {
            true => Err("DescribeGroups listed members".into()),
            false => Ok(()),
        },
    );
    p.probe::<_, ConsumerGroupDescribeResponse>(
        ApiKey::ConsumerGroupDescribe,
        "by name",
        0,
        Names::Echoed,
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]),
        &ok,
    );
    p.probe::<_, FindCoordinatorResponse>(
        ApiKey::FindCoordinator,
        "group",
        3,
        Names::Echoed,
        FindCoordinatorRequest::default()
            .with_key(s(&v.group))
            .with_key_type(0),
        &ok,
    );
    p.probe::<_, FindCoordinatorResponse>(
        ApiKey::FindCoordinator,
        "transaction",
        4,
        Names::Echoed,
        FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s(&v.txn)]),
        &ok,
    );
    p.probe::<_, OffsetFetchResponse>(
        ApiKey::OffsetFetch,
        "all offsets",
        9,
        Names::Echoed,
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group())
                .with_topics(None),
        ]),
        &|r| match r
            .groups
            .iter()
            .flat_map(|g| &g.topics)
            .flat_map(|t| &t.partitions)
            .any(|p| p.committed_offset >= 0)
        {
            true => Err("OffsetFetch returned committed offsets".into()),
            false => Ok(()),
        },
    );
    p.probe::<_, JoinGroupResponse>(
        ApiKey::JoinGroup,
        "join",
        9,
        Names::Echoed,
        JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(6000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))]),
        &ok,
    );
    p.probe::<_, SyncGroupResponse>(
        ApiKey::SyncGroup,
        "sync",
        5,
        Names::Echoed,
        SyncGroupRequest::default()
            .with_group_id(group())
            .with_generation_id(1)
            .with_member_id(s("m"))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range"))),
        &ok,
    );
    p.probe::<_, HeartbeatResponse>(
        ApiKey::Heartbeat,
        "heartbeat",
        4,
        Names::Echoed,
        HeartbeatRequest::default()
            .with_group_id(group())
            .with_generation_id(1)
            .with_member_id(s("m")),
        &|r| match r.error_code {
            0 => Err("Heartbeat into B's group succeeded".into()),
            _ => Ok(()),
        },
    );
    p.probe::<_, LeaveGroupResponse>(
        ApiKey::LeaveGroup,
        "leave",
        5,
        Names::Echoed,
        LeaveGroupRequest::default()
            .with_group_id(group())
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s("m"))
            ]),
        &ok,
    );
    p.probe::<_, ConsumerGroupHeartbeatResponse>(
        ApiKey::ConsumerGroupHeartbeat,
        "join",
        0,
        Names::Echoed,
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group())
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(6000)
            .with_subscribed_topic_names(Some(vec![topic()])),
        &ok,
    );
}
