//! Local SASL: checks the credential a client presents and names its principal.

use std::time::SystemTime;

use gatehouse_auth::listener::LocalSasl;
use gatehouse_auth::sasl::{parse_oauthbearer, parse_plain, Mechanism, OAuthBearerMessage};
use gatehouse_auth::{AuthError, Principal};

use crate::Gateway;

/// PLAIN carries a gateway token as its password; OAUTHBEARER an OIDC access token.
pub(super) async fn verify(
    gateway: &Gateway,
    local: &LocalSasl,
    mechanism: Mechanism,
    auth_bytes: &[u8],
) -> Result<Principal, AuthError> {
    match mechanism {
        Mechanism::Plain => {
            let creds = parse_plain(auth_bytes).map_err(AuthError::Sasl)?;
            let key = gateway
                .auth
                .token_key
                .as_ref()
                .ok_or(AuthError::InvalidCredentials)?;
            let identity = gateway.identity();
            let claims = key.verify(
                creds.password.expose(),
                &creds.username,
                SystemTime::now(),
                &*identity,
            )?;
            Ok(claims.principal())
        }
        Mechanism::OAuthBearer => {
            let initial = match parse_oauthbearer(auth_bytes).map_err(AuthError::Sasl)? {
                OAuthBearerMessage::InitialResponse(i) => i,
                OAuthBearerMessage::ErrorAck => {
                    return Err(AuthError::IllegalSaslState(
                        "error acknowledgement out of turn",
                    ))
                }
            };
            let validator = local.oauth.as_ref().ok_or(AuthError::InvalidCredentials)?;
            let principal = validator.validate(initial.token.expose()).await?;
            initial.check_authzid(&principal.name)?;
            Ok(principal)
        }
        other => Err(AuthError::unsupported_mechanism(other.name())),
    }
}
