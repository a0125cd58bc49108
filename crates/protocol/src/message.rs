//! A frame decoded at most once, however many stages look at it.
//!
//! A [`Message`] starts as the raw frame. The first stage that needs the body as a typed
//! message decodes it; later stages get the same decoded value. It is encoded again only when
//! some stage changed it, so a frame every stage merely read goes on as the bytes it arrived
//! as. (The shape shotover's lazily decoded messages have: raw, parsed, modified.)

use std::any::Any;
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::codec::CodecResult;
use crate::frame::{write_frame, LENGTH_PREFIX};

thread_local! {
    static DECODES: Cell<u64> = const { Cell::new(0) };
}

/// How many message bodies this thread has decoded (tests count decodes per request with it).
pub fn decodes_on_this_thread() -> u64 {
    DECODES.with(Cell::get)
}

pub(crate) fn count_decode() {
    DECODES.with(|d| d.set(d.get() + 1));
}

/// The header of one direction: requests and responses encode theirs by different versions.
pub trait Header: Sized + Send + 'static {
    fn decode_header(buf: &mut Bytes, key: ApiKey, version: i16) -> CodecResult<Self>;
    fn encode_header(&self, out: &mut BytesMut, key: ApiKey, version: i16) -> CodecResult<()>;
}

impl Header for RequestHeader {
    fn decode_header(buf: &mut Bytes, key: ApiKey, version: i16) -> CodecResult<Self> {
        RequestHeader::decode(buf, key.request_header_version(version))
    }
    fn encode_header(&self, out: &mut BytesMut, key: ApiKey, version: i16) -> CodecResult<()> {
        self.encode(out, key.request_header_version(version))
    }
}

impl Header for ResponseHeader {
    fn decode_header(buf: &mut Bytes, key: ApiKey, version: i16) -> CodecResult<Self> {
        ResponseHeader::decode(buf, key.response_header_version(version))
    }
    fn encode_header(&self, out: &mut BytesMut, key: ApiKey, version: i16) -> CodecResult<()> {
        self.encode(out, key.response_header_version(version))
    }
}

/// A decoded body of some message type, kept behind one pointer whatever its type.
trait Body: Send {
    fn encode_body(&self, out: &mut BytesMut, version: i16) -> CodecResult<()>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Encodable + Send + 'static> Body for T {
    fn encode_body(&self, out: &mut BytesMut, version: i16) -> CodecResult<()> {
        self.encode(out, version)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

enum State<H> {
    Raw,
    Parsed {
        header: H,
        body: Box<dyn Body>,
        modified: bool,
    },
}

/// One frame (length prefix included) of a known API key and version.
pub struct Message<H: Header> {
    key: ApiKey,
    version: i16,
    frame: Bytes,
    state: State<H>,
}

pub type RequestMessage = Message<RequestHeader>;
pub type ResponseMessage = Message<ResponseHeader>;

impl RequestMessage {
    /// The request's correlation id, read off the frame as it arrived (the admission stage
    /// checked the header is there): what an answer the gateway writes itself carries.
    pub fn correlation_id(&self) -> i32 {
        let body = self
            .frame
            .get(crate::frame::LENGTH_PREFIX..)
            .unwrap_or_default();
        crate::header::RequestHeaderPeek::parse(body).map_or(0, |h| h.correlation_id)
    }
}

impl<H: Header> Message<H> {
    pub fn new(key: ApiKey, version: i16, frame: Bytes) -> Self {
        Self {
            key,
            version,
            frame,
            state: State::Raw,
        }
    }

    pub fn key(&self) -> ApiKey {
        self.key
    }

    pub fn version(&self) -> i16 {
        self.version
    }

    /// The frame as it arrived, while no stage has decoded it (byte-level stages work on it).
    pub fn raw(&self) -> Option<&Bytes> {
        matches!(self.state, State::Raw).then_some(&self.frame)
    }

    /// Replaces the raw frame with an edited one (a byte-level stage's output). Only while
    /// raw: a decoded message is edited through [`Message::edit`].
    pub fn replace_raw(&mut self, frame: Bytes) {
        debug_assert!(matches!(self.state, State::Raw));
        self.frame = frame;
    }

    /// The body as `T`, decoding it on first use.
    pub fn body<T: Decodable + Encodable + Send + 'static>(&mut self) -> CodecResult<&T> {
        self.parse::<T>()?;
        match &self.state {
            State::Parsed { body, .. } => downcast(body.as_any()),
            State::Raw => unreachable!("parsed above"),
        }
    }

    /// Lets `edit` change the body (it says whether it did); decodes on first use.
    pub fn edit<T: Decodable + Encodable + Send + 'static>(
        &mut self,
        edit: impl FnOnce(&mut T) -> bool,
    ) -> CodecResult<()> {
        self.parse::<T>()?;
        match &mut self.state {
            State::Parsed { body, modified, .. } => {
                let body = body
                    .as_any_mut()
                    .downcast_mut::<T>()
                    .ok_or_else(|| wrong_type::<T>())?;
                if edit(body) {
                    *modified = true;
                }
                Ok(())
            }
            State::Raw => unreachable!("parsed above"),
        }
    }

    /// Whether some stage changed the decoded message (it will be encoded again).
    pub fn is_modified(&self) -> bool {
        matches!(self.state, State::Parsed { modified: true, .. })
    }

    /// The frame to send: the original bytes unless a stage changed the message.
    pub fn into_frame(self) -> CodecResult<Bytes> {
        match self.state {
            State::Raw
            | State::Parsed {
                modified: false, ..
            } => Ok(self.frame),
            State::Parsed { header, body, .. } => {
                let mut out = BytesMut::with_capacity(self.frame.len());
                write_frame(&mut out, |b| {
                    header.encode_header(b, self.key, self.version)?;
                    body.encode_body(b, self.version)
                })?;
                Ok(out.freeze())
            }
        }
    }

    fn parse<T: Decodable + Encodable + Send + 'static>(&mut self) -> CodecResult<()> {
        if let State::Parsed { body, .. } = &self.state {
            return match body.as_any().is::<T>() {
                true => Ok(()),
                false => Err(wrong_type::<T>()),
            };
        }
        if self.frame.len() < LENGTH_PREFIX {
            anyhow::bail!("frame of {} bytes has no length prefix", self.frame.len());
        }
        let mut buf = self.frame.slice(LENGTH_PREFIX..);
        let header = H::decode_header(&mut buf, self.key, self.version)?;
        let body = T::decode(&mut buf, self.version)?;
        count_decode();
        self.state = State::Parsed {
            header,
            body: Box::new(body),
            modified: false,
        };
        Ok(())
    }
}

fn downcast<T: 'static>(any: &dyn Any) -> CodecResult<&T> {
    any.downcast_ref::<T>().ok_or_else(|| wrong_type::<T>())
}

fn wrong_type<T>() -> anyhow::Error {
    anyhow::anyhow!(
        "the message was decoded as another type than {}",
        std::any::type_name::<T>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_response;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::{BrokerId, MetadataResponse};

    fn metadata_frame() -> Bytes {
        let body =
            MetadataResponse::default().with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host("a".into())
                .with_port(9092)]);
        let header = ResponseHeader::default().with_correlation_id(9);
        encode_response(&header, &body, ApiKey::Metadata, 12).unwrap()
    }

    #[test]
    fn decoded_once_and_encoded_only_when_changed() {
        let frame = metadata_frame();
        let before = decodes_on_this_thread();
        let mut m = ResponseMessage::new(ApiKey::Metadata, 12, frame.clone());
        assert!(m.raw().is_some());
        assert_eq!(m.body::<MetadataResponse>().unwrap().brokers.len(), 1);
        m.edit::<MetadataResponse>(|_| false).unwrap();
        assert_eq!(decodes_on_this_thread() - before, 1);
        assert!(m.raw().is_none() && !m.is_modified());
        let out = m.into_frame().unwrap();
        assert_eq!(
            out.as_ptr(),
            frame.as_ptr(),
            "unchanged: the original bytes"
        );

        let mut m = ResponseMessage::new(ApiKey::Metadata, 12, frame.clone());
        m.edit::<MetadataResponse>(|r| {
            r.brokers[0].port = 1;
            true
        })
        .unwrap();
        m.edit::<MetadataResponse>(|r| {
            r.brokers[0].host = "b".into();
            true
        })
        .unwrap();
        assert_eq!(decodes_on_this_thread() - before, 2);
        let out = m.into_frame().unwrap();
        let (h, r) =
            crate::codec::decode_response::<MetadataResponse>(&out, ApiKey::Metadata, 12).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!((r.brokers[0].host.as_str(), r.brokers[0].port), ("b", 1));
    }

    #[test]
    fn asking_for_another_type_is_an_error_not_a_second_decode() {
        let mut m = ResponseMessage::new(ApiKey::Metadata, 12, metadata_frame());
        m.body::<MetadataResponse>().unwrap();
        let e = m
            .body::<kafka_protocol::messages::FindCoordinatorResponse>()
            .map(drop)
            .unwrap_err();
        assert!(e.to_string().contains("another type"), "{e}");
    }
}
