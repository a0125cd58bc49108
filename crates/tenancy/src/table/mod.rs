//! The tenancy table: for each API key a tenant may send, which fields name a topic, a group,
//! a transactional id or a topic id, on the way up and on the way down.
//!
//! This is the single place a new API key is added. An entry says only where the names are;
//! [`crate::mapper`] decides what happens to them. `response_names` says at which versions the
//! response carries anything to un-map or filter: a response without (a Heartbeat, a Fetch by
//! topic id) passes through untouched unless its request left something to answer.
//!
//! Review checklist for a new key or version: every name and topic-id field of the request
//! and response (including nested ones and those only present at some versions); lists the
//! tenant may only partly see (filter them); entries that must not reach the upstream
//! (refuse them with `admit`, answer with `readmit`).

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_protocol::codec::CodecResult;

use gatehouse_protocol::message::{RequestMessage, ResponseMessage};

use crate::mapper::{RequestMapper, ResponseMapper};

/// API keys that name nothing a tenant owns and are safe for tenants as they are.
pub const NAME_FREE_KEYS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::DescribeCluster,
    ApiKey::GetTelemetrySubscriptions,
    ApiKey::PushTelemetry,
];

/// The ACL keys: a tenant's are answered by the gateway from its virtual cluster's own ACLs
/// (`crate::acl::kafka_api`), never mapped or forwarded.
pub const ACL_KEYS: &[ApiKey] = &[ApiKey::DescribeAcls, ApiKey::CreateAcls, ApiKey::DeleteAcls];

/// Whether a tenant may send this key at all: in the table, name-free, or an ACL key. Everything else
/// (log dirs, reassignments, quotas, SCRAM users, features, delegation tokens, leader
/// elections) acts on the whole cluster and cannot be confined to a tenant.
pub fn tenant_may_send(key: ApiKey) -> bool {
    MAPPED_KEYS.contains(&key) || NAME_FREE_KEYS.contains(&key) || ACL_KEYS.contains(&key)
}

/// Narrows an ApiVersions list to what a tenant may send, the ACL keys at the versions the
/// gateway answers (the upstream never sees them, whatever it offers).
pub fn retain_tenant_keys(
    keys: &mut Vec<kafka_protocol::messages::api_versions_response::ApiVersion>,
) {
    keys.retain(|k| ApiKey::try_from(k.api_key).is_ok_and(tenant_may_send));
    offer_acl_keys(keys);
}

/// Offers the ACL keys at the versions the gateway answers: a tenant's answer, and the one a
/// client gets before it authenticates on a route where it may land in a virtual cluster
/// (clients ask ApiVersions once, before SASL, and judge by it what the cluster can do).
pub fn offer_acl_keys(keys: &mut Vec<kafka_protocol::messages::api_versions_response::ApiVersion>) {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::protocol::Message;
    keys.retain(|k| ApiKey::try_from(k.api_key).is_ok_and(|k| !ACL_KEYS.contains(&k)));
    for (key, range) in [
        (ApiKey::DescribeAcls, DescribeAclsRequest::VERSIONS),
        (ApiKey::CreateAcls, CreateAclsRequest::VERSIONS),
        (ApiKey::DeleteAcls, DeleteAclsRequest::VERSIONS),
    ] {
        keys.push(
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(range.min)
                .with_max_version(range.max),
        );
    }
    keys.sort_by_key(|k| k.api_key);
}

macro_rules! tenancy_table {
    ($(
        $key:ident($req:ty => $resp:ty) {
            request: |$rq:ident, $rm:ident| $request:block
            response_names: |$v:ident| $names:expr,
            response: |$rs:ident, $sm:ident| $response:block
        }
    )*) => {
        /// API keys whose names the tenancy stage maps.
        pub const MAPPED_KEYS: &[ApiKey] = &[$(ApiKey::$key),*];

        /// Whether a response of this key and version carries names or ids to un-map or filter.
        pub fn response_carries_names(key: ApiKey, version: i16) -> bool {
            match key {
                $(ApiKey::$key => {
                    let $v = version;
                    $names
                })*
                _ => false,
            }
        }

        pub(crate) fn map_request(
            message: &mut RequestMessage,
            m: &mut RequestMapper<'_>,
        ) -> CodecResult<()> {
            match message.key() {
                $(ApiKey::$key => edit_request::<$req>(message, m, |$rq, $rm| $request),)*
                key => anyhow::bail!("{key:?} is not in the tenancy table"),
            }
        }

        pub(crate) fn map_response(
            message: &mut ResponseMessage,
            m: &ResponseMapper<'_>,
        ) -> CodecResult<()> {
            match message.key() {
                $(ApiKey::$key => edit_response::<$resp>(message, m, |$rs, $sm| $response),)*
                _ => Ok(()),
            }
        }

        /// The gateway's own answer to a request it does not forward (see
        /// [`crate::mapper::ResponseContext`]'s `answer`): an empty response with the top-level
        /// error code, its entries the ones the request refused.
        pub(crate) fn answer(
            key: ApiKey,
            version: i16,
            correlation_id: i32,
            error_code: i16,
            m: &ResponseMapper<'_>,
        ) -> CodecResult<Bytes> {
            match key {
                $(ApiKey::$key => answer_with::<$resp>(key, version, correlation_id, error_code, m, |$rs, $sm| $response),)*
                key => anyhow::bail!("{key:?} is not in the tenancy table"),
            }
        }
    };
}

/// A response with a top-level error code (the answer to a request refused whole), or none.
pub(crate) trait TopLevelError {
    fn set_error_code(&mut self, code: i16);
}

macro_rules! top_level_error {
    (with: $($with:ty),* ; without: $($without:ty),* $(,)?) => {
        $(impl TopLevelError for $with {
            fn set_error_code(&mut self, code: i16) {
                self.error_code = code;
            }
        })*
        $(impl TopLevelError for $without {
            fn set_error_code(&mut self, _code: i16) {}
        })*
    };
}

top_level_error!(
    with: FetchResponse, OffsetFetchResponse, OffsetDeleteResponse, FindCoordinatorResponse,
        JoinGroupResponse, HeartbeatResponse, LeaveGroupResponse, SyncGroupResponse,
        ListGroupsResponse, InitProducerIdResponse, AddOffsetsToTxnResponse, EndTxnResponse,
        ConsumerGroupHeartbeatResponse, MetadataResponse, AddPartitionsToTxnResponse;
    without: ProduceResponse, ListOffsetsResponse, OffsetCommitResponse, DescribeGroupsResponse,
        CreateTopicsResponse, DeleteTopicsResponse, DeleteRecordsResponse,
        OffsetForLeaderEpochResponse, TxnOffsetCommitResponse, DescribeConfigsResponse,
        AlterConfigsResponse, CreatePartitionsResponse, DeleteGroupsResponse,
        IncrementalAlterConfigsResponse, DescribeProducersResponse, DescribeTransactionsResponse,
        ListTransactionsResponse, ConsumerGroupDescribeResponse, DescribeTopicPartitionsResponse,
);

pub(super) fn answer_with<T: Default + Encodable + TopLevelError>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    error_code: i16,
    m: &ResponseMapper<'_>,
    edit: impl FnOnce(&mut T, &ResponseMapper<'_>),
) -> CodecResult<Bytes> {
    let mut body = T::default();
    body.set_error_code(error_code);
    edit(&mut body, m);
    let header =
        kafka_protocol::messages::ResponseHeader::default().with_correlation_id(correlation_id);
    gatehouse_protocol::codec::encode_response(&header, &body, key, version)
}

/// Maps a request through the message every stage shares: decoded once, encoded once by
/// whoever sends it.
pub(super) fn edit_request<T: Decodable + Encodable + Send + 'static>(
    message: &mut RequestMessage,
    m: &mut RequestMapper<'_>,
    edit: impl FnOnce(&mut T, &mut RequestMapper<'_>),
) -> CodecResult<()> {
    message.edit::<T>(|body| {
        edit(body, m);
        true
    })
}

/// Un-maps a response through the message every stage shares: decoded once (the routing
/// stage may have decoded it already), encoded once at the end.
pub(super) fn edit_response<T: Decodable + Encodable + Send + 'static>(
    message: &mut ResponseMessage,
    m: &ResponseMapper<'_>,
    edit: impl FnOnce(&mut T, &ResponseMapper<'_>),
) -> CodecResult<()> {
    message.edit::<T>(|body| {
        edit(body, m);
        true
    })
}

pub(super) fn topic_name(n: &TopicName) -> (StrBytes, i8) {
    (n.0.clone(), crate::mapper::resource::TOPIC)
}

pub(super) fn message(r: &crate::mapper::Refused) -> Option<StrBytes> {
    Some(StrBytes::from_string(r.message.clone()))
}

// The table itself (after the macro, which it uses).
mod entries;

pub(crate) use entries::{answer, map_request, map_response};
pub use entries::{response_carries_names, MAPPED_KEYS};
