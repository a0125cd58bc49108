//! What the rewriters need of a message, so they work on a bare frame and on a message the
//! session's pipeline decodes at most once alike.
//!
//! The rewriters ([`crate::rewrite::AddressRewriter::rewrite_message`],
//! [`crate::nodes::NodeMap::map_request`]) ask for the body as the type they need, edit it in
//! place and say whether they changed it; byte-level rewrites (the Fetch tail, ApiVersions)
//! run only while the message is still raw. [`RequestFrame`] and [`ResponseFrame`] are the
//! bare-frame implementations: each edit is decoded (bounded) and, if it changed anything,
//! encoded at once. A lazily decoded message type (raw | parsed | modified) implements the
//! trait by handing its own `edit` through.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};

use gatehouse_protocol::codec::{
    decode_request, decode_response, encode_request, encode_response, CodecResult,
};

/// A message a rewriter can read and edit.
pub trait BodyEditor {
    /// The frame as it is, while it is raw (not decoded); `None` once a stage decoded it.
    fn raw(&self) -> Option<&Bytes>;

    /// Replaces the raw frame with an edited one. Only called after [`Self::raw`] gave one.
    fn replace_raw(&mut self, frame: Bytes);

    /// Lets `edit` change the body as `T` (it returns whether it did), decoding on first use.
    fn edit<T: Decodable + Encodable + Send + 'static>(
        &mut self,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> CodecResult<()>;
}

/// A request frame (length prefix included), edited by decoding and re-encoding at once.
pub struct RequestFrame(Bytes);

impl RequestFrame {
    pub fn new(frame: Bytes) -> Self {
        Self(frame)
    }

    /// The frame: the same `Bytes` that came in when nothing changed.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl BodyEditor for RequestFrame {
    fn raw(&self) -> Option<&Bytes> {
        Some(&self.0)
    }

    fn replace_raw(&mut self, frame: Bytes) {
        self.0 = frame;
    }

    fn edit<T: Decodable + Encodable + Send + 'static>(
        &mut self,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> CodecResult<()> {
        let (header, mut body) = decode_request::<T>(&self.0)?;
        if edit(&mut body) {
            self.0 = encode_request(&header, &body)?;
        }
        Ok(())
    }
}

/// A response frame of a known key and version, edited by decoding and re-encoding at once.
pub struct ResponseFrame {
    key: ApiKey,
    version: i16,
    frame: Bytes,
}

impl ResponseFrame {
    pub fn new(key: ApiKey, version: i16, frame: Bytes) -> Self {
        Self {
            key,
            version,
            frame,
        }
    }

    /// The frame: the same `Bytes` that came in when nothing changed.
    pub fn into_bytes(self) -> Bytes {
        self.frame
    }
}

impl BodyEditor for ResponseFrame {
    fn raw(&self) -> Option<&Bytes> {
        Some(&self.frame)
    }

    fn replace_raw(&mut self, frame: Bytes) {
        self.frame = frame;
    }

    fn edit<T: Decodable + Encodable + Send + 'static>(
        &mut self,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> CodecResult<()> {
        let (header, mut body) = decode_response::<T>(&self.frame, self.key, self.version)?;
        if edit(&mut body) {
            self.frame = encode_response(&header, &body, self.key, self.version)?;
        }
        Ok(())
    }
}

/// The pipeline's once-decoded message: routing and tenancy edit the same decoded body, and
/// it is encoded once at the end, only if some stage changed it.
impl<H: gatehouse_protocol::message::Header> BodyEditor
    for gatehouse_protocol::message::Message<H>
{
    fn raw(&self) -> Option<&Bytes> {
        gatehouse_protocol::message::Message::raw(self)
    }

    fn replace_raw(&mut self, frame: Bytes) {
        gatehouse_protocol::message::Message::replace_raw(self, frame)
    }

    fn edit<T: Decodable + Encodable + Send + 'static>(
        &mut self,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> CodecResult<()> {
        gatehouse_protocol::message::Message::edit(self, edit)
    }
}
