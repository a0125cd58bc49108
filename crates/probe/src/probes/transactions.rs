//! Transaction probes: every transactional request naming B's transactional id, then A's
//! requests carrying B's producer id (`crate::txn_probes`), DescribeProducers on B's topic,
//! and describing and listing transactions.

use kafka_protocol::messages::*;

use super::{ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    let topic = || TopicName(s(&v.topic));
    let group = || GroupId(s(&v.group));
    let txn = || TransactionalId(s(&v.txn));
    p.probe::<_, InitProducerIdResponse>(
        ApiKey::InitProducerId,
        "init",
        4,
        Names::Echoed,
        InitProducerIdRequest::default()
            .with_transactional_id(Some(txn()))
            .with_transaction_timeout_ms(10000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        &ok,
    );
    p.probe::<_, AddPartitionsToTxnResponse>(
        ApiKey::AddPartitionsToTxn,
        "add",
        3,
        Names::Echoed,
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn())
            .with_v3_and_below_producer_id(ProducerId(0))
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![0]),
            ]),
        &ok,
    );
    p.probe::<_, AddOffsetsToTxnResponse>(
        ApiKey::AddOffsetsToTxn,
        "add",
        3,
        Names::Echoed,
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn())
            .with_group_id(group()),
        &ok,
    );
    p.probe::<_, TxnOffsetCommitResponse>(
        ApiKey::TxnOffsetCommit,
        "commit",
        3,
        Names::Echoed,
        TxnOffsetCommitRequest::default()
            .with_transactional_id(txn())
            .with_group_id(group())
            .with_generation_id(-1)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_committed_offset(0),
                    ]),
            ]),
        &ok,
    );
    p.probe::<_, EndTxnResponse>(
        ApiKey::EndTxn,
        "commit",
        4,
        Names::Echoed,
        EndTxnRequest::default()
            .with_transactional_id(txn())
            .with_committed(true),
        &ok,
    );
    crate::txn_probes::foreign_producer_id(p, v);
    p.probe::<_, DescribeProducersResponse>(
        ApiKey::DescribeProducers,
        "by name",
        0,
        Names::Echoed,
        DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(topic())
                .with_partition_indexes(vec![0]),
        ]),
        &ok,
    );
    p.probe::<_, DescribeTransactionsResponse>(
        ApiKey::DescribeTransactions,
        "by id",
        0,
        Names::Echoed,
        DescribeTransactionsRequest::default().with_transactional_ids(vec![txn()]),
        &ok,
    );
    p.probe::<_, ListTransactionsResponse>(
        ApiKey::ListTransactions,
        "all",
        1,
        Names::Listing,
        ListTransactionsRequest::default(),
        &ok,
    );
}
