//! Where splice(2) is refused (some sandboxes forbid it on sockets), a connection falls back to
//! its buffers in the middle of a large request or response, and every byte still arrives, in
//! order. A fake upstream records what reaches it (a unit test of the pumps: the fallback
//! cannot be provoked on a real host, so the `test-hooks` switch refuses every splice).
#![cfg(target_os = "linux")]

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use gatehouse_routing::metrics::metrics;

use common::{
    read_frame, request, request_correlation_id, response, s, start_gateway, with_correlation_id,
};

/// A Produce v9 carrying `n` bytes of records (the gateway never looks inside them).
fn large_produce(correlation_id: i32, n: usize) -> Bytes {
    let records: Bytes = (0..n)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let body = ProduceRequest::default()
        .with_acks(-1)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s("orders")))
            .with_partition_data(vec![
                PartitionProduceData::default().with_records(Some(records))
            ])]);
    request(ApiKey::Produce, 9, correlation_id, &body)
}

/// A Produce v9 response padded to `n` bytes: streamed, so spliced when splicing works.
fn large_answer(correlation_id: i32, n: usize) -> Bytes {
    let mut b = BytesMut::from(
        &response(
            ApiKey::Produce,
            9,
            correlation_id,
            &ProduceResponse::default(),
        )[..],
    );
    b.extend((0..n).map(|i| (i * 7 % 253) as u8));
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// Serves one connection: hands each request frame to the test (with the client's correlation
/// id, `client_ids`, put back in place of the gateway's), answers with the next answer (under
/// the gateway's id).
async fn recording_upstream(
    listener: TcpListener,
    answers: Vec<Bytes>,
    client_ids: Vec<i32>,
    seen: mpsc::Sender<Bytes>,
) {
    let (mut conn, _) = listener.accept().await.unwrap();
    for (answer, client_id) in answers.into_iter().zip(client_ids) {
        let got = read_frame(&mut conn).await;
        let id = request_correlation_id(&got);
        seen.send(with_correlation_id(&got, 8, client_id))
            .await
            .unwrap();
        conn.write_all(&with_correlation_id(&answer, 4, id))
            .await
            .unwrap();
    }
    let _ = conn.read_u8().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_produces_and_answers_arrive_whole_with_splicing_refused_or_not() {
    let spliced = || {
        let m = metrics();
        (
            m.request_bytes_spliced.load(Relaxed),
            m.response_bytes_spliced.load(Relaxed),
        )
    };
    for refuse in [false, true] {
        gatehouse_proxy::refuse_splicing_for_tests(refuse);
        let requests = [large_produce(1, 600_000), large_produce(2, 300_000)];
        let answers = vec![large_answer(1, 400_000), large_answer(2, 200_000)];
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap();
        let (tx, mut seen) = mpsc::channel(4);
        tokio::spawn(recording_upstream(
            upstream,
            answers.clone(),
            vec![1, 2],
            tx,
        ));
        let port = start_gateway(addr).await;
        let before = spliced();

        let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The first request arrives in pieces: its header, a pause, then the rest.
        client.write_all(&requests[0][..200]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(&requests[0][200..]).await.unwrap();
        assert!(
            seen.recv().await.unwrap() == requests[0],
            "refuse={refuse}: request 1 differs"
        );
        assert!(
            read_frame(&mut client).await == answers[0],
            "refuse={refuse}: answer 1 differs"
        );
        // The second in one write, on the same connection (which has stopped trying to
        // splice if it was refused).
        client.write_all(&requests[1]).await.unwrap();
        assert!(
            seen.recv().await.unwrap() == requests[1],
            "refuse={refuse}: request 2 differs"
        );
        assert!(
            read_frame(&mut client).await == answers[1],
            "refuse={refuse}: answer 2 differs"
        );

        let after = spliced();
        let moved = (after.0 - before.0, after.1 - before.1);
        if refuse {
            assert_eq!(moved, (0, 0), "nothing is spliced when splice is refused");
        } else {
            assert!(moved.0 > 600_000 && moved.1 > 300_000, "{moved:?}");
        }
    }
}
