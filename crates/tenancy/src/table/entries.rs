//! The entries of the tenancy table (see the parent module for what an entry says).

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::CodecResult;
use gatehouse_protocol::message::{RequestMessage, ResponseMessage};

use bytes::Bytes;

use super::{answer_with, edit_request, edit_response, message, topic_name};
use crate::acl::Operation::*;
use crate::acl::ResourceType::{Cluster, Group, Topic, TransactionalId as Txn};
use crate::mapper::{RequestMapper, ResponseMapper};
use crate::names::Entity;

tenancy_table! {
    Produce(ProduceRequest => ProduceResponse) {
        request: |r, m| {
            let txn = match &r.transactional_id {
                Some(t) if !t.0.is_empty() => m.allowed(Write, Txn, &t.0),
                _ => Ok(()),
            };
            m.txn_opt(&mut r.transactional_id);
            m.admit_topics(&mut r.topic_data, |m, t| {
                txn.clone()?;
                m.allowed_topic(Write, &t.name.0, &t.topic_id)?;
                m.may_produce(&t.name.0, &t.topic_id)?;
                m.topic(&mut t.name);
                m.topic_id(&mut t.topic_id);
                Ok(())
            }, |t| (t.name.0.clone(), t.partition_data.iter().map(|p| p.index).collect()));
            if let Err(refused) = &txn {
                m.answer_here(refused);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.responses, |m, t| m.topic(&mut t.name) && m.topic_id(&mut t.topic_id));
            m.readmit(&mut r.responses, |x| produce_response::TopicProduceResponse::default()
                .with_name(TopicName(x.name.clone()))
                .with_partition_responses(x.partitions.iter().map(|&p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p)
                        .with_error_code(x.error.code())
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                        .with_error_message(message(x))
                }).collect()));
        }
    }
    Fetch(FetchRequest => FetchResponse) {
        request: |r, m| {
            m.admit_topics_by_id(&mut r.topics, |m, t| {
                m.allowed_topic(Read, &t.topic.0, &t.topic_id)?;
                m.topic(&mut t.topic);
                m.topic_id(&mut t.topic_id);
                Ok(())
            }, |t| (t.topic.0.clone(), t.topic_id, t.partitions.iter().map(|p| p.partition).collect()));
            for t in &mut r.forgotten_topics_data {
                m.topic(&mut t.topic);
                m.topic_id(&mut t.topic_id);
            }
        }
        // From v13 topics are named by id only, and the request already checked those.
        response_names: |v| v < 13,
        response: |r, m| {
            m.retain(&mut r.responses, |m, t| m.topic(&mut t.topic) && m.topic_id(&mut t.topic_id));
            m.readmit(&mut r.responses, |x| fetch_response::FetchableTopicResponse::default()
                .with_topic(TopicName(x.name.clone()))
                .with_topic_id(x.id)
                .with_partitions(x.partitions.iter().map(|&p| {
                    fetch_response::PartitionData::default()
                        .with_partition_index(p)
                        .with_error_code(x.error.code())
                        .with_high_watermark(-1)
                }).collect()));
        }
    }
    ListOffsets(ListOffsetsRequest => ListOffsetsResponse) {
        request: |r, m| { r.topics.iter_mut().for_each(|t| m.topic(&mut t.name)); }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name) && m.topic_answer(Describe, &t.name, |code| {
                for p in &mut t.partitions {
                    *p = list_offsets_response::ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_timestamp(-1)
                        .with_offset(-1);
                }
            }));
        }
    }
    Metadata(MetadataRequest => MetadataResponse) {
        request: |r, m| {
            let mut creates = r.allow_auto_topic_creation;
            match &mut r.topics {
                Some(topics) if !(topics.is_empty() && m.version == 0) => {
                    // Metadata may create topics (auto-create): names are checked like CreateTopics.
                    m.admit(topics, |m, t| {
                        m.allowed_topic(Describe, t.name.as_ref().map_or(&StrBytes::default(), |n| &n.0), &t.topic_id)?;
                        m.topic_id(&mut t.topic_id);
                        match &mut t.name {
                            Some(n) => {
                                m.on_this_domain(&n.0)?;
                                creates &= m.may_create_topic(&n.0).is_ok();
                                m.legal_topic(n)
                            }
                            None => Ok(()),
                        }
                    }, |t| t.name.as_ref().map(topic_name).unwrap_or_default());
                }
                // Every topic (null; an empty list at v0).
                _ => m.listing(),
            }
            // A topic the client may not CREATE is not created by asking for it.
            r.allow_auto_topic_creation = creates;
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| {
                m.topic_opt_with_id(&mut t.name, &mut t.topic_id)
                    && t.name.as_ref().is_none_or(|n| m.may_describe_topic(n))
            });
            for t in &mut r.topics {
                let name = t.name.as_ref().map_or("", |n| n.0.as_str());
                m.authorized_operations(Topic, name, &mut t.topic_authorized_operations);
            }
            m.authorized_operations(Cluster, crate::acl::CLUSTER_NAME, &mut r.cluster_authorized_operations);
            m.readmit(&mut r.topics, |x| metadata_response::MetadataResponseTopic::default()
                .with_name(Some(TopicName(x.name.clone())))
                .with_error_code(x.error.code()));
        }
    }
    OffsetCommit(OffsetCommitRequest => OffsetCommitResponse) {
        request: |r, m| {
            let group = m.allowed(Read, Group, &r.group_id.0);
            m.group(&mut r.group_id);
            m.admit_topics_by_id(&mut r.topics, |m, t| {
                group.clone()?;
                m.allowed_topic(Read, &t.name.0, &t.topic_id)?;
                m.topic(&mut t.name);
                m.topic_id(&mut t.topic_id);
                Ok(())
            }, |t| (t.name.0.clone(), t.topic_id, t.partitions.iter().map(|p| p.partition_index).collect()));
            if let Err(refused) = &group {
                m.answer_here(refused);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name) && m.topic_id(&mut t.topic_id));
            m.readmit(&mut r.topics, |x| offset_commit_response::OffsetCommitResponseTopic::default()
                .with_name(TopicName(x.name.clone()))
                .with_topic_id(x.id)
                .with_partitions(x.partitions.iter().map(|&p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(x.error.code())
                }).collect()));
        }
    }
    OffsetFetch(OffsetFetchRequest => OffsetFetchResponse) {
        request: |r, m| {
            if m.version < 8 {
                if let Err(refused) = m.allowed(Describe, Group, &r.group_id.0) {
                    m.answer_here(&refused);
                }
                if r.topics.is_none() {
                    m.listing();
                }
            }
            m.group(&mut r.group_id);
            r.topics.iter_mut().flatten().for_each(|t| m.topic(&mut t.name));
            m.admit(&mut r.groups, |m, g| {
                m.allowed(Describe, Group, &g.group_id.0)?;
                if g.topics.is_none() {
                    m.listing();
                }
                m.group(&mut g.group_id);
                for t in g.topics.iter_mut().flatten() {
                    m.topic(&mut t.name);
                    m.topic_id(&mut t.topic_id);
                }
                Ok(())
            }, |g| (g.group_id.0.clone(), 0));
            if m.version >= 8 && r.groups.is_empty() && m.refused_any() {
                m.answer_with(0);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            let refuse = |code: i16, ps: &mut Vec<offset_fetch_response::OffsetFetchResponsePartition>| {
                for p in ps {
                    *p = offset_fetch_response::OffsetFetchResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_committed_offset(-1)
                        .with_error_code(code);
                }
            };
            m.retain(&mut r.topics, |m, t| {
                m.topic(&mut t.name) && m.topic_answer(Describe, &t.name, |code| refuse(code, &mut t.partitions))
            });
            m.retain(&mut r.groups, |m, g| {
                m.retain(&mut g.topics, |m, t| {
                    m.topic(&mut t.name) && m.topic_id(&mut t.topic_id) && m.topic_answer(Describe, &t.name, |code| {
                        for p in &mut t.partitions {
                            *p = offset_fetch_response::OffsetFetchResponsePartitions::default()
                                .with_partition_index(p.partition_index)
                                .with_committed_offset(-1)
                                .with_error_code(code);
                        }
                    })
                });
                m.group(&mut g.group_id)
            });
            m.readmit(&mut r.groups, |x| offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(x.name.clone()))
                .with_error_code(x.error.code()));
        }
    }
    OffsetDelete(OffsetDeleteRequest => OffsetDeleteResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Delete, Group, &r.group_id.0) {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
            m.admit_topics(&mut r.topics, |m, t| {
                m.allowed(Read, Topic, &t.name.0)?;
                m.topic(&mut t.name);
                Ok(())
            }, |t| (t.name.0.clone(), t.partitions.iter().map(|p| p.partition_index).collect()));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name));
            if m.ctx.answer.is_none() {
                m.readmit(&mut r.topics, |x| offset_delete_response::OffsetDeleteResponseTopic::default()
                    .with_name(TopicName(x.name.clone()))
                    .with_partitions(x.partitions.iter().map(|&p| {
                        offset_delete_response::OffsetDeleteResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(x.error.code())
                    }).collect()));
            }
        }
    }
    FindCoordinator(FindCoordinatorRequest => FindCoordinatorResponse) {
        request: |r, m| {
            // key_type 1 is a transactional id; 0 (group) and 2 (share group) are groups.
            let (entity, resource) = match r.key_type {
                1 => (Entity::TransactionalId, Txn),
                _ => (Entity::Group, Group),
            };
            if m.version < 4 {
                if let Err(refused) = m.allowed(Describe, resource, &r.key) {
                    m.answer_here(&refused);
                }
            }
            m.name(entity, &mut r.key);
            m.admit(&mut r.coordinator_keys, |m, k| {
                m.allowed(Describe, resource, k)?;
                m.name(entity, k);
                Ok(())
            }, |k| (k.clone(), 0));
            if m.version >= 4 && r.coordinator_keys.is_empty() && m.refused_any() {
                m.answer_with(0);
            }
        }
        response_names: |v| v >= 4,
        response: |r, m| {
            // The request named only the tenant's keys, so each comes back un-mapped; the
            // entity does not matter while all three share the prefix.
            m.retain(&mut r.coordinators, |m, c| m.name(Entity::Group, &mut c.key));
            m.readmit(&mut r.coordinators, |x| find_coordinator_response::Coordinator::default()
                .with_key(x.name.clone())
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    JoinGroup(JoinGroupRequest => JoinGroupResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Read, Group, &r.group_id.0) {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    Heartbeat(HeartbeatRequest => HeartbeatResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Read, Group, &r.group_id.0) {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    LeaveGroup(LeaveGroupRequest => LeaveGroupResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Read, Group, &r.group_id.0) {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    SyncGroup(SyncGroupRequest => SyncGroupResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Read, Group, &r.group_id.0) {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    DescribeGroups(DescribeGroupsRequest => DescribeGroupsResponse) {
        request: |r, m| {
            m.admit(&mut r.groups, |m, g| {
                m.allowed(Describe, Group, &g.0)?;
                m.group(g);
                Ok(())
            }, |g| (g.0.clone(), 0));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.groups, |m, g| m.group(&mut g.group_id));
            for g in &mut r.groups {
                m.authorized_operations(Group, &g.group_id.0, &mut g.authorized_operations);
            }
            m.readmit(&mut r.groups, |x| describe_groups_response::DescribedGroup::default()
                .with_group_id(GroupId(x.name.clone()))
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    ListGroups(ListGroupsRequest => ListGroupsResponse) {
        request: |_r, _m| {}
        response_names: |_v| true,
        response: |r, m| {
            // Kafka lists every group to DESCRIBE on the cluster, otherwise those the client
            // may DESCRIBE.
            let all = m.may(Describe, Cluster, crate::acl::CLUSTER_NAME);
            m.retain(&mut r.groups, |m, g| {
                m.group(&mut g.group_id) && (all || m.may(Describe, Group, &g.group_id.0))
            });
        }
    }
    CreateTopics(CreateTopicsRequest => CreateTopicsResponse) {
        request: |r, m| {
            m.admit(&mut r.topics, |m, t| {
                m.may_create_topic(&t.name.0)?;
                m.not_an_alias(&t.name.0)?;
                m.legal_topic(&mut t.name)
            }, |t| topic_name(&t.name));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic_with_id(&mut t.name, &mut t.topic_id));
            m.readmit(&mut r.topics, |x| create_topics_response::CreatableTopicResult::default()
                .with_name(TopicName(x.name.clone()))
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DeleteTopics(DeleteTopicsRequest => DeleteTopicsResponse) {
        request: |r, m| {
            m.admit(&mut r.topic_names, |m, t| {
                m.allowed(Delete, Topic, &t.0)?;
                m.owned_topic(&t.0, &uuid::Uuid::nil())?;
                m.topic(t);
                Ok(())
            }, |t| topic_name(t));
            m.admit(&mut r.topics, |m, t| {
                let name = t.name.as_ref().map(|n| n.0.clone()).unwrap_or_default();
                m.allowed_topic(Delete, &name, &t.topic_id)?;
                m.owned_topic(&name, &t.topic_id)?;
                m.topic_opt(&mut t.name);
                m.topic_id(&mut t.topic_id);
                Ok(())
            }, |t| t.name.as_ref().map(topic_name).unwrap_or_default());
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.responses, |m, t| m.topic_opt_with_id(&mut t.name, &mut t.topic_id));
            m.readmit(&mut r.responses, |x| delete_topics_response::DeletableTopicResult::default()
                .with_name(Some(TopicName(x.name.clone())))
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DeleteRecords(DeleteRecordsRequest => DeleteRecordsResponse) {
        request: |r, m| {
            m.admit_topics(&mut r.topics, |m, t| {
                m.allowed(Delete, Topic, &t.name.0)?;
                m.owned_topic(&t.name.0, &uuid::Uuid::nil())?;
                m.topic(&mut t.name);
                Ok(())
            }, |t| (t.name.0.clone(), t.partitions.iter().map(|p| p.partition_index).collect()));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name));
            m.readmit(&mut r.topics, |x| delete_records_response::DeleteRecordsTopicResult::default()
                .with_name(TopicName(x.name.clone()))
                .with_partitions(x.partitions.iter().map(|&p| {
                    delete_records_response::DeleteRecordsPartitionResult::default()
                        .with_partition_index(p)
                        .with_low_watermark(-1)
                        .with_error_code(x.error.code())
                }).collect()));
        }
    }
    InitProducerId(InitProducerIdRequest => InitProducerIdResponse) {
        request: |r, m| {
            let allowed = match &r.transactional_id {
                Some(t) if !t.0.is_empty() => m.allowed(Write, Txn, &t.0),
                _ => m.may_write_idempotently(),
            };
            if let Err(refused) = allowed {
                m.answer_here(&refused);
            }
            m.txn_opt(&mut r.transactional_id);
            m.issuing(&r.transactional_id);
        }
        response_names: |_v| false,
        response: |r, m| { m.issued(r.error_code, r.producer_id.0); }
    }
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse) {
        request: |r, m| { r.topics.iter_mut().for_each(|t| m.topic(&mut t.topic)); }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.topic) && m.topic_answer(Describe, &t.topic, |code| {
                for p in &mut t.partitions {
                    *p = offset_for_leader_epoch_response::EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(code);
                }
            }));
        }
    }
    AddPartitionsToTxn(AddPartitionsToTxnRequest => AddPartitionsToTxnResponse) {
        request: |r, m| {
            // v4 and later come from brokers (KIP-890): Kafka wants CLUSTER_ACTION for them.
            let txn = match m.version {
                0..=3 => m.allowed(Write, Txn, &r.v3_and_below_transactional_id.0),
                _ => m.allowed(ClusterAction, Cluster, crate::acl::CLUSTER_NAME),
            };
            if let Err(refused) = &txn {
                m.answer_here(refused);
            }
            m.txn(&mut r.v3_and_below_transactional_id);
            // A READ alias (on any domain) cannot join a transaction: it cannot be written.
            m.admit_topics(&mut r.v3_and_below_topics, |m, t| {
                txn.clone()?;
                m.allowed(Write, Topic, &t.name.0)?;
                m.may_produce(&t.name.0, &uuid::Uuid::nil())?;
                m.topic(&mut t.name);
                Ok(())
            }, |t| (t.name.0.clone(), t.partitions.clone()));
            for tx in &mut r.transactions {
                m.txn(&mut tx.transactional_id);
                tx.topics.iter_mut().for_each(|t| m.topic(&mut t.name));
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.results_by_topic_v3_and_below, |m, t| m.topic(&mut t.name));
            m.readmit(&mut r.results_by_topic_v3_and_below, |x| {
                add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(x.name.clone()))
                    .with_results_by_partition(x.partitions.iter().map(|&p| {
                        add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(p)
                            .with_partition_error_code(x.error.code())
                    }).collect())
            });
            m.retain(&mut r.results_by_transaction, |m, tx| {
                m.retain(&mut tx.topic_results, |m, t| m.topic(&mut t.name));
                m.txn(&mut tx.transactional_id)
            });
        }
    }
    AddOffsetsToTxn(AddOffsetsToTxnRequest => AddOffsetsToTxnResponse) {
        request: |r, m| {
            let allowed = m.allowed(Write, Txn, &r.transactional_id.0)
                .and_then(|()| m.allowed(Read, Group, &r.group_id.0));
            if let Err(refused) = allowed {
                m.answer_here(&refused);
            }
            m.txn(&mut r.transactional_id);
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    EndTxn(EndTxnRequest => EndTxnResponse) {
        request: |r, m| {
            if let Err(refused) = m.allowed(Write, Txn, &r.transactional_id.0) {
                m.answer_here(&refused);
            }
            m.txn(&mut r.transactional_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    TxnOffsetCommit(TxnOffsetCommitRequest => TxnOffsetCommitResponse) {
        request: |r, m| {
            let whole = m.allowed(Write, Txn, &r.transactional_id.0)
                .and_then(|()| m.allowed(Read, Group, &r.group_id.0));
            if let Err(refused) = &whole {
                m.answer_here(refused);
            }
            m.txn(&mut r.transactional_id);
            m.group(&mut r.group_id);
            // Transactions live on the home domain: offsets of a further domain's alias
            // cannot be committed in one.
            m.admit_topics(&mut r.topics, |m, t| {
                whole.clone()?;
                m.allowed(Read, Topic, &t.name.0)?;
                m.on_home_domain(&t.name.0)?;
                m.topic(&mut t.name);
                Ok(())
            }, |t| (t.name.0.clone(), t.partitions.iter().map(|p| p.partition_index).collect()));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name));
            m.readmit(&mut r.topics, |x| txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                .with_name(TopicName(x.name.clone()))
                .with_partitions(x.partitions.iter().map(|&p| {
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(x.error.code())
                }).collect()));
        }
    }
    DescribeConfigs(DescribeConfigsRequest => DescribeConfigsResponse) {
        request: |r, m| {
            m.admit(&mut r.resources, |m, res| {
                m.config_allowed(DescribeConfigs, res.resource_type, &res.resource_name)?;
                m.config_resource(res.resource_type, &mut res.resource_name);
                Ok(())
            }, |res| (res.resource_name.clone(), res.resource_type));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.config_results(
                &mut r.results,
                |res| (res.resource_type, &mut res.resource_name),
                |x| describe_configs_response::DescribeConfigsResult::default()
                    .with_error_code(x.error.code())
                    .with_error_message(message(x))
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.name.clone()),
            );
        }
    }
    AlterConfigs(AlterConfigsRequest => AlterConfigsResponse) {
        request: |r, m| {
            m.admit_config_resources(&mut r.resources, |res| (res.resource_type, &mut res.resource_name));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.config_results(
                &mut r.responses,
                |res| (res.resource_type, &mut res.resource_name),
                |x| alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(x.error.code())
                    .with_error_message(message(x))
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.name.clone()),
            );
        }
    }
    CreatePartitions(CreatePartitionsRequest => CreatePartitionsResponse) {
        request: |r, m| {
            m.admit(&mut r.topics, |m, t| {
                m.allowed(Alter, Topic, &t.name.0)?;
                m.owned_topic(&t.name.0, &uuid::Uuid::nil())?;
                m.topic(&mut t.name);
                Ok(())
            }, |t| topic_name(&t.name));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.results, |m, t| m.topic(&mut t.name));
            m.readmit(&mut r.results, |x| create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(TopicName(x.name.clone()))
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DeleteGroups(DeleteGroupsRequest => DeleteGroupsResponse) {
        request: |r, m| {
            m.admit(&mut r.groups_names, |m, g| {
                m.allowed(Delete, Group, &g.0)?;
                m.group(g);
                Ok(())
            }, |g| (g.0.clone(), 0));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.results, |m, g| m.group(&mut g.group_id));
            m.readmit(&mut r.results, |x| delete_groups_response::DeletableGroupResult::default()
                .with_group_id(GroupId(x.name.clone()))
                .with_error_code(x.error.code()));
        }
    }
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse) {
        request: |r, m| {
            m.admit_config_resources(&mut r.resources, |res| (res.resource_type, &mut res.resource_name));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.config_results(
                &mut r.responses,
                |res| (res.resource_type, &mut res.resource_name),
                |x| incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(x.error.code())
                    .with_error_message(message(x))
                    .with_resource_type(x.resource_type)
                    .with_resource_name(x.name.clone()),
            );
        }
    }
    DescribeProducers(DescribeProducersRequest => DescribeProducersResponse) {
        request: |r, m| { r.topics.iter_mut().for_each(|t| m.topic(&mut t.name)); }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name) && m.topic_answer(Read, &t.name, |code| {
                for p in &mut t.partitions {
                    *p = describe_producers_response::PartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code);
                }
            }));
        }
    }
    DescribeTransactions(DescribeTransactionsRequest => DescribeTransactionsResponse) {
        request: |r, m| {
            m.admit(&mut r.transactional_ids, |m, t| {
                m.allowed(Describe, Txn, &t.0)?;
                m.txn(t);
                Ok(())
            }, |t| (t.0.clone(), 0));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.transaction_states, |m, s| {
                m.retain(&mut s.topics, |m, t| m.topic(&mut t.topic) && m.may_describe_topic(&t.topic));
                m.txn(&mut s.transactional_id)
            });
            m.readmit(&mut r.transaction_states, |x| describe_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(x.name.clone()))
                .with_error_code(x.error.code()));
        }
    }
    ListTransactions(ListTransactionsRequest => ListTransactionsResponse) {
        request: |r, m| { m.regex_opt(&mut r.transactional_id_pattern); }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.transaction_states, |m, s| {
                m.txn(&mut s.transactional_id) && m.may(Describe, Txn, &s.transactional_id.0)
            });
        }
    }
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest => ConsumerGroupHeartbeatResponse) {
        request: |r, m| {
            let mut topics = r.subscribed_topic_names.iter().flatten();
            let allowed = m.allowed(Read, Group, &r.group_id.0)
                .and_then(|()| topics.try_for_each(|t| m.allowed(Describe, Topic, &t.0)));
            if let Err(refused) = allowed {
                m.answer_here(&refused);
            }
            m.group(&mut r.group_id);
            r.subscribed_topic_names.iter_mut().for_each(|ts| m.topics(ts));
            m.regex_opt(&mut r.subscribed_topic_regex);
            r.topic_partitions.iter_mut().flatten().for_each(|t| m.topic_id(&mut t.topic_id));
        }
        response_names: |_v| true,
        response: |r, m| {
            if let Some(a) = &mut r.assignment {
                m.retain(&mut a.topic_partitions, |m, t| m.topic_id(&mut t.topic_id));
            }
        }
    }
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest => ConsumerGroupDescribeResponse) {
        request: |r, m| {
            m.admit(&mut r.group_ids, |m, g| {
                m.allowed(Describe, Group, &g.0)?;
                m.group(g);
                Ok(())
            }, |g| (g.0.clone(), 0));
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.groups, |m, g| {
                for member in &mut g.members {
                    m.retain(&mut member.subscribed_topic_names, |m, t| m.topic(t));
                    for a in [&mut member.assignment, &mut member.target_assignment] {
                        m.retain(&mut a.topic_partitions, |m, t| {
                            m.topic_with_id(&mut t.topic_name, &mut t.topic_id)
                        });
                    }
                }
                m.group(&mut g.group_id)
            });
            for g in &mut r.groups {
                m.authorized_operations(Group, &g.group_id.0, &mut g.authorized_operations);
            }
            m.readmit(&mut r.groups, |x| consumer_group_describe_response::DescribedGroup::default()
                .with_group_id(GroupId(x.name.clone()))
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DescribeTopicPartitions(DescribeTopicPartitionsRequest => DescribeTopicPartitionsResponse) {
        request: |r, m| {
            r.topics.iter_mut().for_each(|t| m.topic(&mut t.name));
            if let Some(c) = &mut r.cursor {
                m.topic(&mut c.topic_name);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic_opt_with_id(&mut t.name, &mut t.topic_id));
            for t in &mut r.topics {
                let name = t.name.clone().unwrap_or_default();
                if !m.may_describe_topic(&name) {
                    t.error_code = ResponseError::TopicAuthorizationFailed.code();
                    t.partitions.clear();
                    t.topic_id = uuid::Uuid::nil();
                }
                m.authorized_operations(Topic, &name.0, &mut t.topic_authorized_operations);
            }
            if r.next_cursor.as_mut().is_some_and(|c| !m.topic(&mut c.topic_name)) {
                r.next_cursor = None;
            }
        }
    }
}
