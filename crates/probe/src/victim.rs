//! Tenant B as seen through an unmapped connection: what A must never see, and the state A
//! must never change.

use std::collections::BTreeMap;

use anyhow::Context;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::conn::Conn;
use crate::Args;

pub struct Victim {
    pub topic: String,
    pub group: String,
    pub txn: String,
    /// A producer id issued to one of B's transactional ids (-1: unknown).
    pub producer_id: i64,
    pub topic_id: Uuid,
    pub secret: Vec<u8>,
    pub client_id: String,
    /// B's end offset of partition 0 before the probes.
    pub end_offset: i64,
}

/// What A's probes must leave unchanged.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    topic_id: Uuid,
    partitions: usize,
    pub end_offsets: BTreeMap<i32, i64>,
    committed: BTreeMap<(String, i32), i64>,
    configs: BTreeMap<String, Option<String>>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn metadata(
    conn: &mut Conn,
    topic: &str,
) -> anyhow::Result<metadata_response::MetadataResponseTopic> {
    let v = conn.version(ApiKey::Metadata, 12).unwrap_or(9);
    let (r, _): (MetadataResponse, _) = conn.call(
        ApiKey::Metadata,
        v,
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
        ])),
    )?;
    let t = r
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no metadata for {topic}"))?;
    anyhow::ensure!(
        t.error_code == 0,
        "metadata for {topic}: error {}",
        t.error_code
    );
    Ok(t)
}

impl Victim {
    pub fn discover(args: &Args) -> anyhow::Result<Self> {
        let mut raw = Conn::open(&args.raw, "probe-raw").context("ApiVersions (raw)")?;
        let t = metadata(&mut raw, &args.victim_topic).context("Metadata (raw)")?;
        anyhow::ensure!(
            !t.topic_id.is_nil(),
            "the broker gave {} no topic id",
            args.victim_topic
        );
        Ok(Self {
            topic: args.victim_topic.clone(),
            group: args.victim_group.clone(),
            txn: args.victim_txn.clone(),
            producer_id: args.victim_producer_id,
            topic_id: t.topic_id,
            secret: args.victim_secret.as_bytes().to_vec(),
            client_id: args.victim_client_id.clone(),
            end_offset: 0,
        })
    }

    pub fn snapshot(&self, raw_addr: &str) -> anyhow::Result<Snapshot> {
        let mut raw = Conn::open(raw_addr, "probe-raw")?;
        let t = metadata(&mut raw, &self.topic)?;
        let partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();

        let v = raw.version(ApiKey::ListOffsets, 7).unwrap_or(1);
        let (lo, _): (ListOffsetsResponse, _) = raw
            .call(
                ApiKey::ListOffsets,
                v,
                &ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                        .with_name(TopicName(s(&self.topic)))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|p| {
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )]),
            )
            .context("ListOffsets (raw)")?;
        let end_offsets = lo
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.offset)))
            .collect();

        // Tansu answers OffsetFetch v6-7 with a null topics array; v8+ (groups) it encodes.
        let (of, _): (OffsetFetchResponse, _) = raw
            .call(
                ApiKey::OffsetFetch,
                8,
                &OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(&self.group)))
                        .with_topics(None),
                ]),
            )
            .context("OffsetFetch (raw)")?;
        let committed = of
            .groups
            .iter()
            .flat_map(|g| &g.topics)
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        (t.name.0.to_string(), p.partition_index),
                        p.committed_offset,
                    )
                })
            })
            .collect();
        let (dc, _): (DescribeConfigsResponse, _) = raw
            .call(
                ApiKey::DescribeConfigs,
                raw.version(ApiKey::DescribeConfigs, 4).unwrap_or(1),
                &DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(&self.topic)),
                ]),
            )
            .context("DescribeConfigs (raw)")?;
        let configs = dc
            .results
            .iter()
            .flat_map(|r| &r.configs)
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        Ok(Snapshot {
            topic_id: t.topic_id,
            partitions: partitions.len(),
            end_offsets,
            committed,
            configs,
        })
    }
}
