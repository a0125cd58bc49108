//! The gateway's own SASL login to an upstream broker (PLAIN, SCRAM-SHA-256/512), done on a
//! fresh connection before anything else is sent on it.

use std::io;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use gatehouse_auth::client_credentials::oauthbearer_initial_response;
use gatehouse_auth::upstream_sasl::{Step, UpstreamCredentials, UpstreamSasl};

use crate::upstream::{exchange, GatewayLogin, UpstreamStream};

fn refused(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// Logs the gateway in on a fresh connection.
pub(crate) async fn login(
    conn: &mut UpstreamStream,
    login: &GatewayLogin,
    domain: &str,
) -> io::Result<()> {
    match login {
        GatewayLogin::Password(credentials) => password_login(conn, credentials, domain).await,
        GatewayLogin::OAuthBearer(source) => {
            let token = source
                .token()
                .await
                .map_err(|e| refused(format!("domain '{domain}': {e}")))?;
            handshake(conn, "OAUTHBEARER", domain).await?;
            authenticate(conn, oauthbearer_initial_response(&token), domain).await?;
            Ok(())
        }
    }
}

async fn handshake(
    conn: &mut UpstreamStream,
    mechanism: &'static str,
    domain: &str,
) -> io::Result<()> {
    let handshake: SaslHandshakeResponse = exchange(
        conn,
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )
    .await?;
    if handshake.error_code != 0 {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(refused(format!(
            "domain '{domain}': the upstream does not accept SASL mechanism {mechanism} (offers {})",
            offered.join(", ")
        )));
    }
    Ok(())
}

/// One SaslAuthenticate round trip; the server's bytes on success.
async fn authenticate(
    conn: &mut UpstreamStream,
    bytes: Vec<u8>,
    domain: &str,
) -> io::Result<Bytes> {
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
    Ok(response.auth_bytes)
}

/// SaslHandshake v1, then SaslAuthenticate v1 steps until the mechanism is done.
async fn password_login(
    conn: &mut UpstreamStream,
    credentials: &UpstreamCredentials,
    domain: &str,
) -> io::Result<()> {
    let mut sasl = UpstreamSasl::new(credentials).map_err(|e| refused(e.to_string()))?;
    handshake(conn, sasl.mechanism(), domain).await?;
    let mut server: Option<Bytes> = None;
    loop {
        let step = sasl
            .step(server.as_deref())
            .map_err(|e| refused(format!("domain '{domain}': {e}")))?;
        let Step::Send(bytes) = step else {
            return Ok(());
        };
        server = Some(authenticate(conn, bytes, domain).await?);
        if matches!(credentials, UpstreamCredentials::Plain { .. }) {
            return Ok(());
        }
    }
}
