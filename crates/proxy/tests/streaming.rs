//! The response pump against a fake upstream (a unit test of this one stage: real brokers
//! never split frames this finely, nor send KIP-951 node_endpoints on demand).
//!
//! The fake answers each request with a prepared response, written a few bytes at a time, so
//! every partial-read path of the pump runs: streamed raw responses, a Fetch v16 streamed up to
//! its tail with node_endpoints rewritten in place, and a decoded Metadata response, all
//! pipelined and answered in order.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest,
    MetadataResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use gatehouse_protocol::codec::decode_response;

use common::{
    read_frame, request, request_correlation_id, response, s, start_gateway, with_correlation_id,
};

/// Serves one connection: for each request read, writes the next canned response in
/// `chunk`-byte pieces with a pause between them.
async fn fake_upstream(listener: TcpListener, responses: Vec<Bytes>, chunk: usize) {
    let (mut conn, _) = listener.accept().await.unwrap();
    conn.set_nodelay(true).unwrap(); // each piece leaves as its own segment
    for response in responses {
        let id = request_correlation_id(&read_frame(&mut conn).await);
        let response = with_correlation_id(&response, 4, id);
        for (i, piece) in response.chunks(chunk).enumerate() {
            conn.write_all(piece).await.unwrap();
            if i % 16 == 0 {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
        }
    }
    let _ = conn.read_u8().await; // hold the connection until the client goes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_responses_arriving_in_pieces_are_streamed_rewritten_and_ordered() {
    let records = Bytes::from(
        (0..1000u32)
            .flat_map(|i| i.to_be_bytes())
            .collect::<Vec<u8>>(),
    );
    let real_host = "broker-7.kafka.internal.example.com";
    let fetch = FetchResponse::default()
        .with_responses(vec![FetchableTopicResponse::default().with_partitions(
            vec![PartitionData::default()
                .with_partition_index(0)
                .with_records(Some(records.clone()))],
        )])
        .with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(7))
            .with_host(s(real_host))
            .with_port(9092)]);
    let metadata =
        MetadataResponse::default().with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(7))
            .with_host(s(real_host))
            .with_port(9092)]);
    // ListOffsets needs no rewrite: its (arbitrary) bytes must come through untouched.
    let list_offsets = {
        let mut b = BytesMut::from(
            &response(
                ApiKey::ListOffsets,
                2,
                3,
                &kafka_protocol::messages::ListOffsetsResponse::default(),
            )[..],
        );
        b.extend_from_slice(&[0xee; 1500]);
        let len = (b.len() - 4) as i32;
        b[..4].copy_from_slice(&len.to_be_bytes());
        b.freeze()
    };
    let canned = vec![
        response(ApiKey::Fetch, 16, 1, &fetch),
        response(ApiKey::Metadata, 12, 2, &metadata),
        list_offsets.clone(),
    ];

    for chunk in [1, 7, 1000] {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(fake_upstream(upstream, canned.clone(), chunk));
        let port = start_gateway(upstream_addr).await;

        let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut pipelined = BytesMut::new();
        pipelined.extend_from_slice(&request(ApiKey::Fetch, 16, 1, &FetchRequest::default()));
        pipelined.extend_from_slice(&request(
            ApiKey::Metadata,
            12,
            2,
            &MetadataRequest::default(),
        ));
        pipelined.extend_from_slice(&request(
            ApiKey::ListOffsets,
            2,
            3,
            &ListOffsetsRequest::default(),
        ));
        client.write_all(&pipelined).await.unwrap();

        let got_fetch = read_frame(&mut client).await;
        assert_eq!(
            got_fetch.len(),
            canned[0].len(),
            "chunk {chunk}: a streamed Fetch keeps its length"
        );
        let (h, f): (_, FetchResponse) = decode_response(&got_fetch, ApiKey::Fetch, 16).unwrap();
        assert_eq!(h.correlation_id, 1);
        assert_eq!(
            f.responses[0].partitions[0].records.as_ref(),
            Some(&records),
            "record bytes intact"
        );
        let endpoints: Vec<_> = f
            .node_endpoints
            .iter()
            .map(|n| (n.host.to_string(), n.port))
            .collect();
        assert_eq!(
            endpoints,
            vec![("gw.test".to_string(), (port + 1) as i32)],
            "chunk {chunk}"
        );

        let (h, m): (_, MetadataResponse) =
            decode_response(&read_frame(&mut client).await, ApiKey::Metadata, 12).unwrap();
        assert_eq!(
            (
                h.correlation_id,
                m.brokers[0].host.to_string(),
                m.brokers[0].port
            ),
            (2, "gw.test".into(), (port + 1) as i32)
        );

        assert_eq!(
            read_frame(&mut client).await,
            list_offsets,
            "chunk {chunk}: raw bytes through unchanged"
        );
    }
}
