//! The gateway's own SASL login to an upstream broker (PLAIN, SCRAM-SHA-256/512), done on a
//! fresh connection before anything else is sent on it.

use std::io;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use gatehouse_auth::upstream_sasl::{Step, UpstreamCredentials, UpstreamSasl};

use crate::upstream::{exchange, UpstreamStream};

fn refused(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// SaslHandshake v1, then SaslAuthenticate v1 steps until the mechanism is done.
pub(crate) async fn login(
    conn: &mut UpstreamStream,
    credentials: &UpstreamCredentials,
    domain: &str,
) -> io::Result<()> {
    let mut sasl = UpstreamSasl::new(credentials).map_err(|e| refused(e.to_string()))?;
    let handshake: SaslHandshakeResponse = exchange(
        conn,
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(sasl.mechanism())),
    )
    .await?;
    if handshake.error_code != 0 {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(refused(format!(
            "domain '{domain}': the upstream does not accept SASL mechanism {} (offers {})",
            sasl.mechanism(),
            offered.join(", ")
        )));
    }
    let mut server: Option<Bytes> = None;
    loop {
        let step = sasl
            .step(server.as_deref())
            .map_err(|e| refused(format!("domain '{domain}': {e}")))?;
        let Step::Send(bytes) = step else {
            return Ok(());
        };
        let response: SaslAuthenticateResponse = exchange(
            conn,
            ApiKey::SaslAuthenticate,
            1,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
        )
        .await?;
        if response.error_code != 0 {
            return Err(refused(format!(
                "domain '{domain}': the upstream refused the gateway's SASL login (error {}): {}",
                response.error_code,
                response.error_message.as_deref().unwrap_or("")
            )));
        }
        server = Some(response.auth_bytes);
        if matches!(credentials, UpstreamCredentials::Plain { .. }) {
            return Ok(());
        }
    }
}
