//! Topic and config probes: B's topic config described and changed, B's topic grown,
//! created and deleted (by name and by id), and B's group deleted.

use kafka_protocol::messages::*;

use super::{id_refused, ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    let topic = || TopicName(s(&v.topic));
    let group = || GroupId(s(&v.group));
    let id = v.topic_id;
    p.probe::<_, DescribeConfigsResponse>(
        ApiKey::DescribeConfigs,
        "topic",
        4,
        Names::Echoed,
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(&v.topic)),
        ]),
        &ok,
    );
    p.probe::<_, IncrementalAlterConfigsResponse>(
        ApiKey::IncrementalAlterConfigs,
        "topic",
        1,
        Names::Echoed,
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(&v.topic))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1"))),
                ]),
        ]),
        &ok,
    );
    p.probe::<_, AlterConfigsResponse>(
        ApiKey::AlterConfigs,
        "topic",
        2,
        Names::Echoed,
        AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(&v.topic)),
        ]),
        &ok,
    );
    p.probe::<_, CreatePartitionsResponse>(
        ApiKey::CreatePartitions,
        "grow",
        3,
        Names::Echoed,
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic())
                    .with_count(8),
            ]),
        &ok,
    );
    p.probe::<_, CreateTopicsResponse>(
        ApiKey::CreateTopics,
        "create",
        7,
        Names::Echoed,
        CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(topic())
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        &ok,
    );
    p.probe::<_, DeleteTopicsResponse>(
        ApiKey::DeleteTopics,
        "by name",
        5,
        Names::Echoed,
        DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topic_names(vec![topic()]),
        &ok,
    );
    p.probe::<_, DeleteTopicsResponse>(
        ApiKey::DeleteTopics,
        "by id",
        6,
        Names::Id,
        DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_topic_id(id)
            ]),
        &|r| {
            r.responses
                .iter()
                .filter(|t| t.topic_id == id)
                .try_for_each(|t| id_refused(t.error_code, "DeleteTopics"))
        },
    );
    p.probe::<_, DeleteGroupsResponse>(
        ApiKey::DeleteGroups,
        "by name",
        2,
        Names::Echoed,
        DeleteGroupsRequest::default().with_groups_names(vec![group()]),
        &ok,
    );
}
