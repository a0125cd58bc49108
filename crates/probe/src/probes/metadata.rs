//! Metadata probes: Metadata and DescribeTopicPartitions, listing every topic and naming B's
//! topic by name (and Metadata by id).

use kafka_protocol::messages::*;

use super::{id_refused, ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    let topic = || TopicName(s(&v.topic));
    let id = v.topic_id;
    p.probe::<_, MetadataResponse>(
        ApiKey::Metadata,
        "all topics",
        12,
        Names::Listing,
        MetadataRequest::default().with_topics(None),
        &ok,
    );
    p.probe::<_, MetadataResponse>(
        ApiKey::Metadata,
        "by name",
        12,
        Names::Echoed,
        MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
        ])),
        &ok,
    );
    p.probe::<_, MetadataResponse>(
        ApiKey::Metadata,
        "by id",
        12,
        Names::Id,
        MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_topic_id(id),
        ])),
        &|r| {
            r.topics
                .iter()
                .filter(|t| t.topic_id == id)
                .try_for_each(|t| match t.partitions.is_empty() {
                    true => id_refused(t.error_code, "Metadata"),
                    false => Err("Metadata by B's id listed its partitions".into()),
                })
        },
    );
    // DescribeTopicPartitions
    p.probe::<_, DescribeTopicPartitionsResponse>(
        ApiKey::DescribeTopicPartitions,
        "all topics",
        0,
        Names::Listing,
        DescribeTopicPartitionsRequest::default().with_response_partition_limit(100),
        &ok,
    );
    p.probe::<_, DescribeTopicPartitionsResponse>(
        ApiKey::DescribeTopicPartitions,
        "by name",
        0,
        Names::Echoed,
        DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(100)
            .with_topics(vec![
                describe_topic_partitions_request::TopicRequest::default().with_name(topic()),
            ]),
        &ok,
    );
}
