//! A blocking Kafka connection that knows the versions its peer offers.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_protocol::codec::{decode_response, encode_request};

pub struct Conn {
    stream: TcpStream,
    correlation: i32,
    client_id: &'static str,
    versions: HashMap<i16, (i16, i16)>,
}

impl Conn {
    pub fn open(addr: &str, client_id: &'static str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            correlation: 0,
            client_id,
            versions: HashMap::new(),
        };
        let (r, _): (ApiVersionsResponse, _) = c.call(
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("gatehouse-probe"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        )?;
        c.versions = r
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(c)
    }

    /// The highest version both the peer and kafka-protocol know, at most `cap`.
    pub fn version(&self, key: ApiKey, cap: i16) -> Option<i16> {
        let (lo, hi) = *self.versions.get(&(key as i16))?;
        let ours = key.valid_versions();
        let v = hi.min(cap).min(ours.max);
        (v >= lo.max(ours.min)).then_some(v)
    }

    pub fn offers(&self, key: ApiKey) -> bool {
        self.versions.contains_key(&(key as i16))
    }

    /// Sends one request and reads its response; also returns the raw response frame.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> anyhow::Result<(Resp, Bytes)> {
        self.send(key, version, req)?;
        let frame = self.read_frame()?;
        let (_, body) = decode_response::<Resp>(&frame, key, version)?;
        Ok((body, frame))
    }

    pub fn send<Req: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> anyhow::Result<()> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let frame = encode_request(&header, req)?;
        self.stream.write_all(&frame)?;
        Ok(())
    }

    pub fn read_frame(&mut self) -> anyhow::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let n = i32::from_be_bytes(len);
        anyhow::ensure!((0..64 << 20).contains(&n), "bad frame length {n}");
        let mut frame = vec![0u8; 4 + n as usize];
        frame[..4].copy_from_slice(&len);
        self.stream.read_exact(&mut frame[4..])?;
        Ok(frame.into())
    }

    /// True when the peer closes the connection without answering.
    pub fn closed_without_answer(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}
