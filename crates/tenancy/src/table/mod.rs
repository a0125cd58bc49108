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

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::CodecResult;

use gatehouse_protocol::message::{RequestMessage, ResponseMessage};

use crate::mapper::{Refusal, RequestMapper, ResponseMapper};

/// API keys that name nothing a tenant owns and are safe for tenants as they are.
pub const NAME_FREE_KEYS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::DescribeCluster,
    ApiKey::GetTelemetrySubscriptions,
    ApiKey::PushTelemetry,
];

/// Whether a tenant may send this key at all: in the table or name-free. Everything else
/// (log dirs, reassignments, quotas, SCRAM users, features, delegation tokens, leader
/// elections) acts on the whole cluster and cannot be confined to a tenant.
pub fn tenant_may_send(key: ApiKey) -> bool {
    MAPPED_KEYS.contains(&key) || NAME_FREE_KEYS.contains(&key)
}

/// Narrows an ApiVersions list to what a tenant may send.
pub fn retain_tenant_keys(
    keys: &mut Vec<kafka_protocol::messages::api_versions_response::ApiVersion>,
) {
    keys.retain(|k| ApiKey::try_from(k.api_key).is_ok_and(tenant_may_send));
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
    };
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

pub(super) fn refuse(error: ResponseError, message: &str) -> Refusal {
    Refusal {
        error,
        message: message.into(),
    }
}

// The table itself (after the macro, which it uses).
mod entries;

pub(crate) use entries::{map_request, map_response};
pub use entries::{response_carries_names, MAPPED_KEYS};
