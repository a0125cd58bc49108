//! The router: where a request goes once the other stages are done with it.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, MetadataRequest};

use gatehouse_protocol::message::RequestMessage;

use super::{Pipeline, Step};
use crate::gate::Watch;
use crate::reader::End;
use crate::sequencer::TenantResponse;

impl Pipeline<'_> {
    /// The router: a request goes to the session's one destination, except the Metadata of a
    /// passthrough session on a route that shows several domains, which goes to all of them
    /// (fan-out; routing by topic comes with alias topics). Virtual node ids the client put in a request
    /// become the upstream's here; on a route that shows one domain the map is the identity
    /// and nothing is decoded.
    pub(super) fn forward(
        &self,
        key: ApiKey,
        version: i16,
        mut pieces: Vec<Bytes>,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> Step {
        let nodes = &self.route.nodes;
        if key == ApiKey::Metadata && !nodes.is_identity() && tenancy.is_none() && pieces.len() == 1
        {
            // Every domain's brokers and topics, at their virtual ids. (A tenant's Metadata
            // stays on its home domain: alias topics on other domains come next.)
            let frame = pieces.pop().expect("one piece");
            return match no_auto_creation(version, frame) {
                Ok(frame) => Step::FanOut(frame),
                Err(e) => Step::End(End::BadInput("decode", format!("Metadata v{version}: {e}"))),
            };
        }
        if pieces.len() == 1 && nodes.request_needs_rewrite(key, version) {
            match nodes.rewrite_request(key, version, pieces.pop().expect("one piece")) {
                Ok(frame) => pieces.push(frame),
                Err(e) => {
                    let why = format!("{key:?} v{version}: {e}");
                    return Step::End(End::BadInput("decode", why));
                }
            }
        }
        self.route_ids_mapped(pieces, tenancy, watch)
    }

    /// A request whose node ids the router has mapped already (through the message the
    /// tenancy stage decoded): it goes to the session's destination.
    pub(super) fn route_ids_mapped(
        &self,
        pieces: Vec<Bytes>,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> Step {
        Step::Forward {
            pieces,
            tenancy,
            watch,
        }
    }
}

/// A Metadata request asked of every domain must not create its topics on each of them (a
/// domain that lacks a topic another has would create it, and then show it as its own): the
/// request goes out with `allow_auto_topic_creation` off (v4+; older versions cannot say).
fn no_auto_creation(version: i16, frame: Bytes) -> anyhow::Result<Bytes> {
    let mut message = RequestMessage::new(ApiKey::Metadata, version, frame);
    message.edit::<MetadataRequest>(|r| std::mem::take(&mut r.allow_auto_topic_creation))?;
    message.into_frame()
}
