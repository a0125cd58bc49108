//! Which API keys and versions the gateway forwards.
//!
//! A client learns what it may send from ApiVersions, so the gateway advertises only what it
//! can forward correctly: the intersection of what the upstream broker offers and this table.
//! Version ranges are those the kafka-protocol crate can decode (Kafka 4.1's message set), so
//! any response a stage needs to rewrite can be decoded.
//!
//! Review checklist for adding a key: does the request or response carry a broker address
//! (then the routing stage must rewrite it), a topic/group/transactional id or topic id (the
//! tenancy stage must map it), or only make sense between brokers and controllers (leave it
//! out)?

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;

/// API keys clients may send through the gateway.
///
/// Left out on purpose:
/// * inter-broker and controller APIs (LeaderAndIsr, Vote, BrokerRegistration, Envelope,
///   AlterPartition, raft voter changes, share-group state, ...): no client sends them;
/// * DescribeQuorum: answers with controller addresses the gateway does not virtualise;
/// * the share-group family (KIP-932, preview in Kafka 4.1): ShareFetch and ShareAcknowledge
///   carry broker addresses that are not rewritten yet.
pub const FORWARDED_KEYS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::SaslHandshake,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DeleteRecords,
    ApiKey::InitProducerId,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::AlterReplicaLogDirs,
    ApiKey::DescribeLogDirs,
    ApiKey::SaslAuthenticate,
    ApiKey::CreatePartitions,
    ApiKey::CreateDelegationToken,
    ApiKey::RenewDelegationToken,
    ApiKey::ExpireDelegationToken,
    ApiKey::DescribeDelegationToken,
    ApiKey::DeleteGroups,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::OffsetDelete,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::UpdateFeatures,
    ApiKey::DescribeCluster,
    ApiKey::DescribeProducers,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
    ApiKey::GetTelemetrySubscriptions,
    ApiKey::PushTelemetry,
    ApiKey::ListConfigResources,
    ApiKey::DescribeTopicPartitions,
];

/// What the gateway does with a request, judged from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A known key at a version the gateway forwards.
    Forward(ApiKey),
    /// ApiVersions at a version newer than the gateway knows: answer v0 UNSUPPORTED_VERSION,
    /// as a broker does, so the client retries with a version it shares.
    ApiVersionsTooNew,
    /// Unknown key or unsupported version: a broker closes the connection.
    Refuse(RefuseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    UnknownApiKey(i16),
    NotForwarded(ApiKey),
    UnsupportedVersion(ApiKey, i16),
}

impl std::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownApiKey(k) => write!(f, "unknown API key {k}"),
            Self::NotForwarded(k) => write!(f, "API {k:?} is not available through the gateway"),
            Self::UnsupportedVersion(k, v) => write!(f, "{k:?} v{v} is not supported"),
        }
    }
}

/// The gateway's own version range for a key, if it forwards it.
pub fn gateway_range(key: ApiKey) -> Option<VersionRange> {
    FORWARDED_KEYS.contains(&key).then(|| key.valid_versions())
}

/// Decides from the header alone whether a request can be forwarded.
pub fn admit(api_key: i16, api_version: i16) -> Admission {
    let Ok(key) = ApiKey::try_from(api_key) else {
        return Admission::Refuse(RefuseReason::UnknownApiKey(api_key));
    };
    let Some(range) = gateway_range(key) else {
        return Admission::Refuse(RefuseReason::NotForwarded(key));
    };
    if api_version >= range.min && api_version <= range.max {
        Admission::Forward(key)
    } else if key == ApiKey::ApiVersions && api_version > range.max {
        Admission::ApiVersionsTooNew
    } else {
        Admission::Refuse(RefuseReason::UnsupportedVersion(key, api_version))
    }
}

/// The gateway's table as ApiVersions entries (for answers it gives itself).
pub fn gateway_api_versions() -> Vec<ApiVersion> {
    FORWARDED_KEYS
        .iter()
        .map(|k| {
            let r = k.valid_versions();
            ApiVersion::default()
                .with_api_key(*k as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect()
}

/// Keeps the keys both sides support, each narrowed to the versions both support.
pub fn intersect(upstream: &mut Vec<ApiVersion>) {
    upstream.retain_mut(|entry| {
        let Some(ours) = ApiKey::try_from(entry.api_key).ok().and_then(gateway_range) else {
            return false;
        };
        entry.min_version = entry.min_version.max(ours.min);
        entry.max_version = entry.max_version.min(ours.max);
        entry.min_version <= entry.max_version
    });
}

/// Keeps the keys `theirs` supports too, each narrowed to the versions both support: what a
/// client may send on a route whose requests reach several clusters.
pub fn narrow_to(ours: &mut Vec<ApiVersion>, theirs: &[ApiVersion]) {
    ours.retain_mut(|entry| {
        let Some(other) = theirs.iter().find(|t| t.api_key == entry.api_key) else {
            return false;
        };
        entry.min_version = entry.min_version.max(other.min_version);
        entry.max_version = entry.max_version.min(other.max_version);
        entry.min_version <= entry.max_version
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_to_another_cluster_keeps_what_both_support() {
        let mut ours = vec![v(0, 3, 13), v(1, 4, 17), v(3, 4, 12), v(60, 0, 1)];
        let theirs = vec![v(0, 3, 9), v(1, 12, 17), v(3, 13, 13)];
        narrow_to(&mut ours, &theirs);
        let got: Vec<_> = ours
            .iter()
            .map(|e| (e.api_key, e.min_version, e.max_version))
            .collect();
        // Metadata has no version in common, DescribeCluster is not offered there: both gone.
        assert_eq!(got, vec![(0, 3, 9), (1, 12, 17)]);
    }

    fn v(key: i16, min: i16, max: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(key)
            .with_min_version(min)
            .with_max_version(max)
    }

    #[test]
    fn intersection_narrows_and_drops() {
        let mut offered = vec![
            v(ApiKey::Produce as i16, 0, 20), // narrowed to 3..=13
            v(ApiKey::Vote as i16, 0, 1),     // inter-broker: dropped
            v(ApiKey::Fetch as i16, 0, 2),    // no overlap with 4..=18: dropped
            v(999, 0, 1),                     // unknown: dropped
            v(ApiKey::Metadata as i16, 4, 9), // already inside
        ];
        intersect(&mut offered);
        let got: Vec<_> = offered
            .iter()
            .map(|e| (e.api_key, e.min_version, e.max_version))
            .collect();
        assert_eq!(got, vec![(0, 3, 13), (3, 4, 9)]);
    }

    #[test]
    fn admission_follows_the_broker_rules() {
        assert_eq!(admit(3, 12), Admission::Forward(ApiKey::Metadata));
        assert_eq!(admit(18, 99), Admission::ApiVersionsTooNew);
        assert_eq!(
            admit(3, 99),
            Admission::Refuse(RefuseReason::UnsupportedVersion(ApiKey::Metadata, 99))
        );
        assert_eq!(
            admit(1234, 0),
            Admission::Refuse(RefuseReason::UnknownApiKey(1234))
        );
        assert_eq!(
            admit(52, 0),
            Admission::Refuse(RefuseReason::NotForwarded(ApiKey::Vote))
        );
    }
}
