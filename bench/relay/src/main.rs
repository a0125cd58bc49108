//! `gatehouse-bench-relay LISTEN TARGET`: relays every connection accepted on LISTEN to TARGET
//! byte for byte, on tokio's multi-threaded runtime as the gateway runs. Nothing is parsed, so
//! its CPU per request is the floor under any proxy's on the same host: the loopback TCP
//! stack, the syscalls and the wakeups of two extra hops.

use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(target)) = (args.next(), args.next()) else {
        eprintln!("usage: gatehouse-bench-relay LISTEN_ADDR TARGET_ADDR");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(&listen).await?;
    loop {
        let (mut client, _) = listener.accept().await?;
        let target = target.clone();
        tokio::spawn(async move {
            // As the gateway sets both legs: small requests are not held back by Nagle.
            let _ = client.set_nodelay(true);
            if let Ok(mut upstream) = TcpStream::connect(&target).await {
                let _ = upstream.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}
