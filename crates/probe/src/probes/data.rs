//! Data probes: B's partitions read and written (ListOffsets, Fetch by name and by id,
//! Produce), B's group's offsets committed and deleted, OffsetForLeaderEpoch.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{id_refused, ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    let topic = || TopicName(s(&v.topic));
    let group = || GroupId(s(&v.group));
    let id = v.topic_id;
    let end = v.end_offset;
    p.probe::<_, ListOffsetsResponse>(
        ApiKey::ListOffsets,
        "latest",
        7,
        Names::Echoed,
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic())
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1),
                ])]),
        &|r| match r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.error_code == 0 && p.offset == end && end > 0)
        {
            true => Err("ListOffsets answered with B's end offset".into()),
            false => Ok(()),
        },
    );
    p.probe::<_, FetchResponse>(
        ApiKey::Fetch,
        "by name",
        12,
        Names::Echoed,
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(10)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default().with_partition_max_bytes(1 << 20)
                ])]),
        &ok,
    );
    p.probe::<_, FetchResponse>(
        ApiKey::Fetch,
        "by id",
        17,
        Names::Id,
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(10)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic_id(id)
                .with_partitions(vec![
                    fetch_request::FetchPartition::default().with_partition_max_bytes(1 << 20)
                ])]),
        &|r| {
            r.responses
                .iter()
                .filter(|t| t.topic_id == id)
                .flat_map(|t| &t.partitions)
                .try_for_each(|p| id_refused(p.error_code, "Fetch"))
        },
    );
    p.probe::<_, ProduceResponse>(
        ApiKey::Produce,
        "by name",
        9,
        Names::Echoed,
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_records(Some(probe_records())),
                ])]),
        &ok,
    );
    p.probe::<_, OffsetCommitResponse>(
        ApiKey::OffsetCommit,
        "commit",
        8,
        Names::Echoed,
        OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(0),
                    ]),
            ]),
        &ok,
    );
    p.probe::<_, OffsetDeleteResponse>(
        ApiKey::OffsetDelete,
        "delete",
        0,
        Names::Echoed,
        OffsetDeleteRequest::default()
            .with_group_id(group())
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default(),
                    ]),
            ]),
        &ok,
    );
    p.probe::<_, OffsetForLeaderEpochResponse>(
        ApiKey::OffsetForLeaderEpoch,
        "epoch",
        4,
        Names::Echoed,
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default(),
                    ]),
            ]),
        &ok,
    );
}

fn probe_records() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"PROBE-A")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("a one-record batch encodes");
    buf.freeze()
}
