//! The entries of the tenancy table (see the parent module for what an entry says).

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::CodecResult;
use gatehouse_protocol::message::{RequestMessage, ResponseMessage};

use super::{edit_request, edit_response, message, refuse, topic_name};
use crate::mapper::{pattern, RequestMapper, ResponseMapper, NOT_A_TENANT_RESOURCE};
use crate::names::Entity;

tenancy_table! {
    Produce(ProduceRequest => ProduceResponse) {
        request: |r, m| {
            m.txn_opt(&mut r.transactional_id);
            m.admit_topics(&mut r.topic_data, |m, t| {
                m.may_produce(&t.name.0, &t.topic_id)?;
                m.topic(&mut t.name);
                m.topic_id(&mut t.topic_id);
                Ok(())
            }, |t| (t.name.0.clone(), t.partition_data.iter().map(|p| p.index).collect()));
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
            for t in &mut r.topics {
                m.topic(&mut t.topic);
                m.topic_id(&mut t.topic_id);
            }
            for t in &mut r.forgotten_topics_data {
                m.topic(&mut t.topic);
                m.topic_id(&mut t.topic_id);
            }
        }
        // From v13 topics are named by id only, and the request already checked those.
        response_names: |v| v < 13,
        response: |r, m| {
            m.retain(&mut r.responses, |m, t| m.topic(&mut t.topic) && m.topic_id(&mut t.topic_id));
        }
    }
    ListOffsets(ListOffsetsRequest => ListOffsetsResponse) {
        request: |r, m| { r.topics.iter_mut().for_each(|t| m.topic(&mut t.name)); }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.topics, |m, t| m.topic(&mut t.name)); }
    }
    Metadata(MetadataRequest => MetadataResponse) {
        request: |r, m| {
            if let Some(topics) = &mut r.topics {
                // Metadata may create topics (auto-create): names are checked like CreateTopics.
                m.admit(topics, |m, t| {
                    m.topic_id(&mut t.topic_id);
                    match &mut t.name {
                        Some(n) => {
                            m.on_this_domain(&n.0)?;
                            m.legal_topic(n)
                        }
                        None => Ok(()),
                    }
                }, |t| t.name.as_ref().map(topic_name).unwrap_or_default());
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic_opt_with_id(&mut t.name, &mut t.topic_id));
            m.readmit(&mut r.topics, |x| metadata_response::MetadataResponseTopic::default()
                .with_name(Some(TopicName(x.name.clone())))
                .with_error_code(x.error.code()));
        }
    }
    OffsetCommit(OffsetCommitRequest => OffsetCommitResponse) {
        request: |r, m| {
            m.group(&mut r.group_id);
            for t in &mut r.topics {
                m.topic(&mut t.name);
                m.topic_id(&mut t.topic_id);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name) && m.topic_id(&mut t.topic_id));
        }
    }
    OffsetFetch(OffsetFetchRequest => OffsetFetchResponse) {
        request: |r, m| {
            m.group(&mut r.group_id);
            r.topics.iter_mut().flatten().for_each(|t| m.topic(&mut t.name));
            for g in &mut r.groups {
                m.group(&mut g.group_id);
                for t in g.topics.iter_mut().flatten() {
                    m.topic(&mut t.name);
                    m.topic_id(&mut t.topic_id);
                }
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.topics, |m, t| m.topic(&mut t.name));
            m.retain(&mut r.groups, |m, g| {
                m.retain(&mut g.topics, |m, t| m.topic(&mut t.name) && m.topic_id(&mut t.topic_id));
                m.group(&mut g.group_id)
            });
        }
    }
    OffsetDelete(OffsetDeleteRequest => OffsetDeleteResponse) {
        request: |r, m| {
            m.group(&mut r.group_id);
            r.topics.iter_mut().for_each(|t| m.topic(&mut t.name));
        }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.topics, |m, t| m.topic(&mut t.name)); }
    }
    FindCoordinator(FindCoordinatorRequest => FindCoordinatorResponse) {
        request: |r, m| {
            // key_type 1 is a transactional id; 0 (group) and 2 (share group) are groups.
            let entity = if r.key_type == 1 { Entity::TransactionalId } else { Entity::Group };
            m.name(entity, &mut r.key);
            r.coordinator_keys.iter_mut().for_each(|k| m.name(entity, k));
        }
        response_names: |v| v >= 4,
        response: |r, m| {
            // The request named only the tenant's keys, so each comes back un-mapped; the
            // entity does not matter while all three share the prefix.
            m.retain(&mut r.coordinators, |m, c| m.name(Entity::Group, &mut c.key));
        }
    }
    JoinGroup(JoinGroupRequest => JoinGroupResponse) {
        request: |r, m| { m.group(&mut r.group_id); }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    Heartbeat(HeartbeatRequest => HeartbeatResponse) {
        request: |r, m| { m.group(&mut r.group_id); }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    LeaveGroup(LeaveGroupRequest => LeaveGroupResponse) {
        request: |r, m| { m.group(&mut r.group_id); }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    SyncGroup(SyncGroupRequest => SyncGroupResponse) {
        request: |r, m| { m.group(&mut r.group_id); }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    DescribeGroups(DescribeGroupsRequest => DescribeGroupsResponse) {
        request: |r, m| { m.groups(&mut r.groups); }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.groups, |m, g| m.group(&mut g.group_id)); }
    }
    ListGroups(ListGroupsRequest => ListGroupsResponse) {
        request: |_r, _m| {}
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.groups, |m, g| m.group(&mut g.group_id)); }
    }
    CreateTopics(CreateTopicsRequest => CreateTopicsResponse) {
        request: |r, m| {
            m.admit(&mut r.topics, |m, t| {
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
                m.owned_topic(&t.0, &uuid::Uuid::nil())?;
                m.topic(t);
                Ok(())
            }, |t| topic_name(t));
            m.admit(&mut r.topics, |m, t| {
                m.owned_topic(t.name.as_ref().map(|n| &n.0).unwrap_or(&StrBytes::default()), &t.topic_id)?;
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
            m.txn_opt(&mut r.transactional_id);
            m.issuing(&r.transactional_id);
        }
        response_names: |_v| false,
        response: |r, m| { m.issued(r.error_code, r.producer_id.0); }
    }
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse) {
        request: |r, m| { r.topics.iter_mut().for_each(|t| m.topic(&mut t.topic)); }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.topics, |m, t| m.topic(&mut t.topic)); }
    }
    AddPartitionsToTxn(AddPartitionsToTxnRequest => AddPartitionsToTxnResponse) {
        request: |r, m| {
            m.txn(&mut r.v3_and_below_transactional_id);
            // A READ alias (on any domain) cannot join a transaction: it cannot be written.
            m.admit_topics(&mut r.v3_and_below_topics, |m, t| {
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
            m.txn(&mut r.transactional_id);
            m.group(&mut r.group_id);
        }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    EndTxn(EndTxnRequest => EndTxnResponse) {
        request: |r, m| { m.txn(&mut r.transactional_id); }
        response_names: |_v| false,
        response: |_r, _m| {}
    }
    TxnOffsetCommit(TxnOffsetCommitRequest => TxnOffsetCommitResponse) {
        request: |r, m| {
            m.txn(&mut r.transactional_id);
            m.group(&mut r.group_id);
            // Transactions live on the home domain: offsets of a further domain's alias
            // cannot be committed in one.
            m.admit_topics(&mut r.topics, |m, t| {
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
    DescribeAcls(DescribeAclsRequest => DescribeAclsResponse) {
        request: |r, m| {
            // No name: every ACL matches upstream and the response keeps only the tenant's.
            if let Some(name) = &mut r.resource_name_filter {
                m.acl_resource(r.resource_type_filter, name, &mut r.pattern_type_filter);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.resources, |m, a| {
                m.acl_resource(a.resource_type, &mut a.resource_name, &mut a.pattern_type)
            });
        }
    }
    CreateAcls(CreateAclsRequest => CreateAclsResponse) {
        request: |r, m| {
            m.admit(&mut r.creations, |m, c| {
                if m.acl_resource(c.resource_type, &mut c.resource_name, &mut c.resource_pattern_type) {
                    Ok(())
                } else {
                    Err(refuse(ResponseError::ClusterAuthorizationFailed, NOT_A_TENANT_RESOURCE))
                }
            }, |c| (c.resource_name.clone(), c.resource_type));
        }
        // Results are positional: only refused entries need putting back.
        response_names: |_v| false,
        response: |r, m| {
            m.readmit(&mut r.results, |x| create_acls_response::AclCreationResult::default()
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DeleteAcls(DeleteAclsRequest => DeleteAclsResponse) {
        request: |r, m| {
            m.admit(&mut r.filters, |m, f| {
                // A filter without a name, or one that matches by pattern, would reach other
                // tenants' ACLs upstream: only exact (literal or prefixed) names are let through.
                let exact = matches!(f.pattern_type_filter, pattern::LITERAL | pattern::PREFIXED)
                    && f.resource_type_filter != crate::mapper::resource::ANY;
                let mapped = exact && match &mut f.resource_name_filter {
                    Some(name) => m.acl_resource(f.resource_type_filter, name, &mut f.pattern_type_filter),
                    None => false,
                };
                match mapped {
                    true => Ok(()),
                    false => Err(refuse(
                        ResponseError::InvalidRequest,
                        "in a virtual cluster, DeleteAcls filters must name a topic, group or \
                         transactional id with a LITERAL or PREFIXED pattern",
                    )),
                }
            }, |f| (f.resource_name_filter.clone().unwrap_or_default(), f.resource_type_filter));
        }
        response_names: |_v| true,
        response: |r, m| {
            for f in &mut r.filter_results {
                m.retain(&mut f.matching_acls, |m, a| {
                    m.acl_resource(a.resource_type, &mut a.resource_name, &mut a.pattern_type)
                });
            }
            m.readmit(&mut r.filter_results, |x| delete_acls_response::DeleteAclsFilterResult::default()
                .with_error_code(x.error.code())
                .with_error_message(message(x)));
        }
    }
    DescribeConfigs(DescribeConfigsRequest => DescribeConfigsResponse) {
        request: |r, m| {
            for res in &mut r.resources {
                m.config_resource(res.resource_type, &mut res.resource_name);
            }
        }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.results, |m, res| m.config_resource(res.resource_type, &mut res.resource_name));
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
        request: |r, m| { m.groups(&mut r.groups_names); }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.results, |m, g| m.group(&mut g.group_id)); }
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
        response: |r, m| { m.retain(&mut r.topics, |m, t| m.topic(&mut t.name)); }
    }
    DescribeTransactions(DescribeTransactionsRequest => DescribeTransactionsResponse) {
        request: |r, m| { m.txns(&mut r.transactional_ids); }
        response_names: |_v| true,
        response: |r, m| {
            m.retain(&mut r.transaction_states, |m, s| {
                m.retain(&mut s.topics, |m, t| m.topic(&mut t.topic));
                m.txn(&mut s.transactional_id)
            });
        }
    }
    ListTransactions(ListTransactionsRequest => ListTransactionsResponse) {
        request: |r, m| { m.regex_opt(&mut r.transactional_id_pattern); }
        response_names: |_v| true,
        response: |r, m| { m.retain(&mut r.transaction_states, |m, s| m.txn(&mut s.transactional_id)); }
    }
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest => ConsumerGroupHeartbeatResponse) {
        request: |r, m| {
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
        request: |r, m| { m.groups(&mut r.group_ids); }
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
            if r.next_cursor.as_mut().is_some_and(|c| !m.topic(&mut c.topic_name)) {
                r.next_cursor = None;
            }
        }
    }
}
