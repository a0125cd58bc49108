//! The sequencer against two fake upstreams on loopback TCP that answer in 1-byte pieces, at
//! the same time: answers must reach the client whole, in its order, with its correlation ids,
//! whatever the interleaving, the gateway's own requests and `acks=0` between them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{BrokerMap, HostPort, NodeIdRange, NodeMap, Route, Target};

use super::{ClientEnd, Expect, Fanout, Sequencer, Slot};
use crate::deadlines::Activity;
use crate::upstreams::{Destination, LinkId, UpstreamSet};

/// A request whose body tells the fake upstream what to answer: `len` bytes of `tag`.
fn request(key: ApiKey, version: i16, client_id: i32, len: u32, tag: u8) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(2 + 2 + 4 + 2 + 4 + 1);
    b.put_i16(key as i16);
    b.put_i16(version);
    b.put_i32(client_id);
    b.put_i16(-1); // null client id
    b.put_u32(len);
    b.put_u8(tag);
    b.freeze()
}

/// A fake upstream: answers every request (an `acks=0` Produce too, as Tansu does) with its
/// correlation id and the bytes asked for (or the `canned` frame), one byte per write for the
/// first `trickle` bytes.
async fn fake_upstream(listener: TcpListener, trickle: usize, canned: Option<Bytes>) {
    let (mut s, _) = listener.accept().await.unwrap();
    s.set_nodelay(true).unwrap();
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut frame).await.unwrap();
        let id = &frame[4..8];
        if let Some(canned) = &canned {
            let mut answer = canned.to_vec();
            answer[4..8].copy_from_slice(id);
            s.write_all(&answer).await.unwrap();
            continue;
        }
        let answer_len = u32::from_be_bytes(frame[10..14].try_into().unwrap()) as usize;
        let tag = frame[14];
        let mut answer = Vec::with_capacity(8 + answer_len);
        answer.extend_from_slice(&((4 + answer_len) as i32).to_be_bytes());
        answer.extend_from_slice(id);
        answer.extend(std::iter::repeat_n(tag, answer_len));
        let cut = trickle.min(answer.len());
        for byte in &answer[..cut] {
            s.write_all(std::slice::from_ref(byte)).await.unwrap();
            tokio::task::yield_now().await;
        }
        s.write_all(&answer[cut..]).await.unwrap();
    }
}

struct Harness {
    set: UpstreamSet,
    tx: mpsc::Sender<Slot>,
    client: TcpStream,
    links: Vec<LinkId>,
}

fn route(port: u16, virtual_cluster: Option<&str>) -> Arc<Route> {
    let ranges = vec![NodeIdRange {
        name: "n".into(),
        start: 0,
        end: 0,
    }];
    Arc::new(Route {
        name: "r".into(),
        endpoint: HostPort::parse(&format!("127.0.0.1:{port}")).unwrap(),
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        domain: "a".into(),
        bootstrap_server_id: "l".into(),
        brokers: BrokerMap::new(port, ranges.clone()),
        nodes: NodeMap::single("a", "l", ranges),
        virtual_cluster: virtual_cluster.map(str::to_string),
    })
}

/// Two fake upstreams (domains `a` and `b`), a link to each, and the client's socket whose
/// other end the sequencer writes to.
async fn harness(trickle: usize) -> Harness {
    harness_with(trickle, None).await
}

async fn harness_with(trickle: usize, canned: Option<Bytes>) -> Harness {
    let mut set = UpstreamSet::new(gatehouse_routing::upstream::Login::Gateway);
    let (tx, rx) = mpsc::channel(64);
    let mut links = Vec::new();
    let mut opened = Vec::new();
    for domain in ["a", "b"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(fake_upstream(listener, trickle, canned.clone()));
        let cluster = UpstreamCluster::new(
            domain.into(),
            "l".into(),
            HostPort::parse(&addr.to_string()).unwrap(),
            None,
            Duration::from_secs(5),
        );
        let destination = Destination {
            cluster: Arc::new(cluster),
            broker: Target::Bootstrap,
        };
        let (link, slot) = set.link_for(&destination).await.unwrap();
        links.push(link);
        opened.push(slot.expect("a new link is announced"));
    }
    let gateway_side = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(gateway_side.local_addr().unwrap())
        .await
        .unwrap();
    let (served, peer) = gateway_side.accept().await.unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&served);
    let (_rd, wr) = served.into_split();
    let end = ClientEnd {
        writer: wr,
        fd: Some(fd),
        peer,
        activity: Activity::new(),
    };
    let route = route(gateway_side.local_addr().unwrap().port(), None);
    tokio::spawn(async move {
        let _keep_read_half = _rd;
        Sequencer::new(rx, end, route, FrameSplitter::new(64 << 20))
            .run()
            .await
    });
    for slot in opened {
        tx.send(slot).await.unwrap();
    }
    Harness {
        set,
        tx,
        client,
        links,
    }
}

impl Harness {
    /// Sends a request on a link and queues the slot its answer needs.
    async fn forward(&mut self, on: usize, frame: Bytes, key: ApiKey, version: i16) -> i32 {
        let link = self.links[on];
        let client_id = i32::from_be_bytes(frame[8..12].try_into().unwrap());
        let id = self.set.link(link).send(vec![frame]).unwrap();
        self.tx
            .send(Slot::One(Expect {
                link,
                upstream_id: id,
                client_id,
                key,
                version,
                tenancy: None,
                watch: None,
            }))
            .await
            .unwrap();
        id
    }

    /// Reads the client's next answer: its correlation id and body.
    async fn answer(&mut self) -> (i32, Vec<u8>) {
        let mut len = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_secs(10), self.client.read_exact(&mut len));
        read.await.expect("an answer in time").unwrap();
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        self.client.read_exact(&mut frame).await.unwrap();
        let id = i32::from_be_bytes(frame[..4].try_into().unwrap());
        (id, frame[4..].to_vec())
    }
}

fn is(body: &[u8], len: usize, tag: u8) -> bool {
    body.len() == len && body.iter().all(|&b| b == tag)
}

#[tokio::test]
async fn answers_in_client_order_from_two_upstreams_answering_in_one_byte_pieces() {
    let mut h = harness(usize::MAX).await;
    // Client ids are reused on purpose: only the gateway's ids go upstream.
    h.forward(
        0,
        request(ApiKey::Heartbeat, 4, 7, 10, b'a'),
        ApiKey::Heartbeat,
        4,
    )
    .await;
    h.forward(
        1,
        request(ApiKey::Heartbeat, 4, 7, 20, b'b'),
        ApiKey::Heartbeat,
        4,
    )
    .await;
    // acks=0 Produce on link a: its stray answer must not be taken for the next one's.
    let link = h.links[0];
    let id = (h.set.link(link))
        .send(vec![request(ApiKey::Produce, 9, 7, 5, b'x')])
        .unwrap();
    h.tx.send(Slot::Unanswered { link, id }).await.unwrap();
    h.forward(
        0,
        request(ApiKey::Heartbeat, 4, 7, 30, b'c'),
        ApiKey::Heartbeat,
        4,
    )
    .await;
    h.tx.send(Slot::Local(Bytes::from_static(b"\0\0\0\x07\0\0\0\x0bloc")))
        .await
        .unwrap();
    h.set.flush().await.unwrap();

    let (id, body) = h.answer().await;
    assert!(id == 7 && is(&body, 10, b'a'), "{id} {body:?}");
    let (id, body) = h.answer().await;
    assert!(id == 7 && is(&body, 20, b'b'), "{id} {body:?}");
    let (id, body) = h.answer().await;
    assert!(id == 7 && is(&body, 30, b'c'), "{id} {body:?}");
    let (id, body) = h.answer().await;
    assert_eq!(
        (id, body),
        (11, b"loc".to_vec()),
        "the local answer where it was queued"
    );
}

#[tokio::test]
async fn a_splice_sized_answer_between_trickled_ones_arrives_whole_and_in_order() {
    let mut h = harness(200).await;
    let big = 300 * 1024;
    h.forward(
        0,
        request(ApiKey::Fetch, 12, 1, 50, b'a'),
        ApiKey::Fetch,
        12,
    )
    .await;
    h.forward(
        1,
        request(ApiKey::Fetch, 12, 2, big, b'B'),
        ApiKey::Fetch,
        12,
    )
    .await;
    let link = h.links[1];
    let id = (h.set.link(link))
        .send(vec![request(ApiKey::Produce, 9, 3, 5, b'x')])
        .unwrap();
    h.tx.send(Slot::Unanswered { link, id }).await.unwrap();
    h.forward(
        1,
        request(ApiKey::Fetch, 12, 3, 60, b'c'),
        ApiKey::Fetch,
        12,
    )
    .await;
    h.forward(
        0,
        request(ApiKey::Fetch, 12, 4, 70, b'd'),
        ApiKey::Fetch,
        12,
    )
    .await;
    h.set.flush().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let (id, body) = h.answer().await;
        got.push((id, body.len(), body[0]));
    }
    assert_eq!(
        got,
        vec![
            (1, 50, b'a'),
            (2, big as usize, b'B'),
            (3, 60, b'c'),
            (4, 70, b'd')
        ]
    );
}

/// A fan-out's part on link b is a request of the gateway's own, sent between the client's
/// pipelined requests on that link: the client sees neither it nor any change to its ids.
#[tokio::test]
async fn a_fan_out_merges_both_answers_into_one_with_the_clients_id() {
    let mut h = harness(3).await;
    h.forward(
        1,
        request(ApiKey::Heartbeat, 4, 41, 3, b'y'),
        ApiKey::Heartbeat,
        4,
    )
    .await;
    let parts: Vec<(LinkId, i32)> = [0, 1]
        .into_iter()
        .map(|on| {
            let link = h.links[on];
            let tag = b'p' + on as u8;
            let frame = request(ApiKey::Metadata, 12, 0, 4, tag);
            (link, h.set.link(link).send(vec![frame]).unwrap())
        })
        .collect();
    let merge = Box::new(|frames: Vec<Bytes>| {
        let mut out = BytesMut::new();
        let bodies: Vec<&[u8]> = frames.iter().map(|f| &f[8..]).collect();
        out.put_i32(4 + bodies.iter().map(|b| b.len() as i32).sum::<i32>());
        out.put_i32(-1);
        bodies.iter().for_each(|b| out.put_slice(b));
        Ok(out.freeze())
    });
    let fanout = Fanout {
        client_id: 42,
        key: ApiKey::Metadata,
        version: 12,
        parts,
        merge,
    };
    h.tx.send(Slot::Merged(Box::new(fanout))).await.unwrap();
    h.forward(
        1,
        request(ApiKey::Heartbeat, 4, 43, 2, b'z'),
        ApiKey::Heartbeat,
        4,
    )
    .await;
    h.set.flush().await.unwrap();
    let (id, body) = h.answer().await;
    assert_eq!((id, body), (41, b"yyy".to_vec()));
    let (id, body) = h.answer().await;
    assert_eq!((id, body), (42, b"ppppqqqq".to_vec()));
    let (id, body) = h.answer().await;
    assert_eq!((id, body), (43, b"zz".to_vec()));
}

/// A tenant's Metadata is decoded once on the way up (the tenancy stage maps its names) and
/// once on the way back, although two stages edit the answer (routing's addresses, tenancy's
/// names): they share one decoded message.
#[tokio::test]
async fn a_tenants_metadata_is_decoded_once_each_way() {
    use gatehouse_auth::listener::RouteSecurity;
    use gatehouse_protocol::message::decodes_on_this_thread;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{
        BrokerId, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader, TopicName,
    };

    use crate::binding::Binding;
    use crate::gate::Gate;
    use crate::pipeline::{Body, Incoming, Pipeline, Step};

    let name = |n: &str| Some(TopicName(n.to_string().into()));
    let answer = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(0))
            .with_host("upstream.internal".into())
            .with_port(9092)])
        .with_topics(vec![
            MetadataResponseTopic::default().with_name(name("team.orders")),
            MetadataResponseTopic::default().with_name(name("other.secret")),
        ]);
    let header = ResponseHeader::default().with_correlation_id(0);
    let canned =
        gatehouse_protocol::codec::encode_response(&header, &answer, ApiKey::Metadata, 12).unwrap();
    let mut h = harness_with(usize::MAX, Some(canned)).await;

    let gateway = crate::Gateway::new(Default::default(), Default::default());
    gateway.set_catalog(gatehouse_tenancy::Catalog::new([("team", "team.")]));
    let client = crate::binding::Client::new(None, std::net::Ipv4Addr::LOCALHOST.into());
    let binding = Binding::new(&gateway, Some("team"), "a", "a", client)
        .map_err(|_| ())
        .unwrap();
    let gate = Gate::new(
        Arc::new(RouteSecurity::plaintext()),
        None,
        [127, 0, 0, 1].into(),
    );
    let route = route(9, Some("team"));
    let mut pipeline = Pipeline::new(&gateway, &route, gate, binding);
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(name("orders")),
    ]));
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(12)
        .with_correlation_id(77);
    let frame = gatehouse_protocol::codec::encode_request(&header, &request).unwrap();

    let before = decodes_on_this_thread();
    let step = pipeline
        .judge(Incoming {
            key: ApiKey::Metadata,
            version: 12,
            correlation_id: 77,
            expects_response: true,
            body: Body::Whole(frame),
        })
        .await;
    let Step::Forward {
        pieces, tenancy, ..
    } = step
    else {
        panic!("a tenant's Metadata is forwarded");
    };
    assert_eq!(
        decodes_on_this_thread() - before,
        1,
        "one decode on the way up"
    );
    let link = h.links[0];
    let id = h.set.link(link).send(pieces).unwrap();
    h.tx.send(Slot::One(Expect {
        link,
        upstream_id: id,
        client_id: 77,
        key: ApiKey::Metadata,
        version: 12,
        tenancy,
        watch: None,
    }))
    .await
    .unwrap();
    h.set.flush().await.unwrap();
    let mut len = [0u8; 4];
    h.client.read_exact(&mut len).await.unwrap();
    let mut rest = vec![0u8; i32::from_be_bytes(len) as usize];
    h.client.read_exact(&mut rest).await.unwrap();
    assert_eq!(
        decodes_on_this_thread() - before,
        2,
        "one decode on the way back for both stages"
    );
    let mut got = BytesMut::from(&len[..]);
    got.extend_from_slice(&rest);
    let (header, seen) = gatehouse_protocol::codec::decode_response::<MetadataResponse>(
        &got.freeze(),
        ApiKey::Metadata,
        12,
    )
    .unwrap();
    assert_eq!(header.correlation_id, 77);
    let topics: Vec<_> = seen
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap().0.to_string())
        .collect();
    assert_eq!(
        topics,
        ["orders"],
        "un-prefixed, and the other tenant's topic dropped"
    );
    assert_eq!(
        seen.brokers[0].host.as_str(),
        "127.0.0.1",
        "the route's address"
    );
}
