//! A's transactional requests carrying a producer id issued to B: the gateway answers them
//! INVALID_PRODUCER_ID_MAPPING itself (a broker like Tansu would accept them), whether they
//! name A's own transactional id or B's.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::probes::{Names, Prober};
use crate::victim::Victim;

const INVALID_MAPPING: i16 = ResponseError::InvalidProducerIdMapping.code();

fn refused(code: i16) -> Result<(), String> {
    match code {
        INVALID_MAPPING => Ok(()),
        other => Err(format!(
            "B's producer id was not refused with INVALID_PRODUCER_ID_MAPPING (error {other})"
        )),
    }
}

pub(crate) fn foreign_producer_id(p: &mut Prober<'_>, v: &Victim) {
    if v.producer_id < 0 {
        return;
    }
    let pid = ProducerId(v.producer_id);
    let topic = || TopicName(StrBytes::from_string(v.topic.clone()));
    let group = || GroupId(StrBytes::from_string(v.group.clone()));
    for (what, txn) in [
        ("own txn, B's pid", "probe-tx"),
        ("B's txn, B's pid", v.txn.as_str()),
    ] {
        let txn = || TransactionalId(StrBytes::from_string(txn.to_string()));
        p.probe::<_, AddPartitionsToTxnResponse>(
            ApiKey::AddPartitionsToTxn,
            what,
            3,
            Names::Echoed,
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(txn())
                .with_v3_and_below_producer_id(pid)
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![0]),
                ]),
            &|r: &AddPartitionsToTxnResponse| {
                let codes = r.results_by_topic_v3_and_below.iter();
                let mut codes = codes.flat_map(|t| t.results_by_partition.iter());
                match codes.find(|p| p.partition_error_code != INVALID_MAPPING) {
                    Some(p) => refused(p.partition_error_code),
                    None => Ok(()),
                }
            },
        );
        p.probe::<_, AddOffsetsToTxnResponse>(
            ApiKey::AddOffsetsToTxn,
            what,
            3,
            Names::Echoed,
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn())
                .with_producer_id(pid)
                .with_group_id(group()),
            &|r: &AddOffsetsToTxnResponse| refused(r.error_code),
        );
        p.probe::<_, TxnOffsetCommitResponse>(
            ApiKey::TxnOffsetCommit,
            what,
            3,
            Names::Echoed,
            TxnOffsetCommitRequest::default()
                .with_transactional_id(txn())
                .with_group_id(group())
                .with_producer_id(pid)
                .with_generation_id(-1)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_committed_offset(0),
                        ]),
                ]),
            &|r: &TxnOffsetCommitResponse| {
                let mut parts = r.topics.iter().flat_map(|t| t.partitions.iter());
                match parts.find(|p| p.error_code != INVALID_MAPPING) {
                    Some(p) => refused(p.error_code),
                    None => Ok(()),
                }
            },
        );
        p.probe::<_, EndTxnResponse>(
            ApiKey::EndTxn,
            what,
            4,
            Names::Echoed,
            EndTxnRequest::default()
                .with_transactional_id(txn())
                .with_producer_id(pid)
                .with_committed(true),
            &|r: &EndTxnResponse| refused(r.error_code),
        );
    }
}
