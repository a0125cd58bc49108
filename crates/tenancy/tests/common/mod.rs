//! What the golden-case files share: a tenant session, and a request sent up through it or a
//! response brought down, as the client and the upstream would see them.

// Each golden-case file uses a part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_protocol::codec::{decode_request, decode_response, encode_request, encode_response};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_tenancy::{
    ProducerIds, ResponseContext, ResponsePlan, Tenant, TenantSession, TopicIds,
};

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

pub struct Case {
    pub session: TenantSession,
    pub ids: Arc<TopicIds>,
}

impl Case {
    /// A session of `tenant` on its home domain.
    pub fn of(tenant: Arc<Tenant>) -> Self {
        let ids = Arc::new(TopicIds::default());
        let session = TenantSession::new(tenant, ids.clone(), Arc::new(ProducerIds::default()));
        Self { session, ids }
    }

    /// Maps a request and decodes what would go upstream.
    pub fn up<T: Encodable + Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: T,
    ) -> (T, Option<Box<ResponseContext>>) {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(9);
        let frame = encode_request(&header, &body).unwrap();
        let (chunks, plan) = self.session.request(key, version, frame).unwrap();
        let (_, mapped) = decode_request::<T>(&chunks.concat().into()).unwrap();
        let ctx = match plan {
            ResponsePlan::Untouched => None,
            ResponsePlan::Map(ctx) => Some(ctx),
        };
        (mapped, ctx)
    }

    /// Un-maps a response as the client would get it.
    pub fn down<T: Encodable + Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        ctx: Option<&ResponseContext>,
        body: T,
    ) -> T {
        let header = ResponseHeader::default().with_correlation_id(9);
        let frame: Bytes = encode_response(&header, &body, key, version).unwrap();
        let empty = ResponseContext::default();
        let message = ResponseMessage::new(key, version, frame);
        let pieces = (self.session.response(ctx.unwrap_or(&empty), message)).unwrap();
        decode_response::<T>(&pieces.concat().into(), key, version)
            .unwrap()
            .1
    }
}

impl Case {
    /// A request the gateway answers itself (its client's ACLs refuse all of it): the answer
    /// as the client gets it; None when the request goes upstream.
    pub fn answered<Req: Encodable, Resp: Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: Req,
    ) -> Option<Resp> {
        use gatehouse_protocol::message::RequestMessage;
        use gatehouse_tenancy::MappedRequest;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(9);
        let frame = encode_request(&header, &body).unwrap();
        let message = RequestMessage::new(key, version, frame);
        match self.session.request_message(message).unwrap().0 {
            MappedRequest::Answered(answer) => {
                let (h, r) = decode_response::<Resp>(&answer, key, version).unwrap();
                assert_eq!(h.correlation_id, 9);
                Some(r)
            }
            _ => None,
        }
    }
}
