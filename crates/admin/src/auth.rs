//! HTTP basic authentication for `/gateway/v2/*`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::throttle::{LoginThrottle, Source};
use crate::v2::ApiError;

/// One user allowed to call the v2 API.
#[derive(Clone)]
pub struct User {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({})", self.username)
    }
}

/// The user whose credentials `authorization` (the header's value) carries, if any. Every
/// user is compared, each field in constant time, so timing does not reveal which user or
/// how much of a password matched.
pub fn authorized<'a>(users: &'a [User], authorization: Option<&str>) -> Option<&'a User> {
    let (user, password) = credentials(authorization?)?;
    let mut found = None;
    for u in users {
        let ok: bool =
            (u.username.as_bytes().ct_eq(&user) & u.password.as_bytes().ct_eq(&password)).into();
        if ok && found.is_none() {
            found = Some(u);
        }
    }
    found
}

/// The (username, password) of a `Basic` authorization header.
fn credentials(header: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Who may call, and the record of wrong logins by client address.
#[derive(Clone)]
pub struct Auth {
    pub users: Arc<[User]>,
    pub throttle: Arc<LoginThrottle>,
}

/// The user a request was authenticated as (a request extension, for the change log).
#[derive(Clone, Debug)]
pub struct AuthenticatedUser(pub String);

/// The client's address (a request extension the listener adds to every request).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

fn unauthorized(msg: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        msg,
        "UNAUTHORIZED",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"gatehouse\""),
    );
    response
}

/// Lets through requests with a configured user's credentials (see [`crate::throttle`] for
/// how wrong ones are slowed).
pub async fn require_user(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if auth.users.is_empty() {
        return unauthorized("the admin API has no users: list them in admin.users of the configuration, or set GATEHOUSE_ADMIN_PASSWORD for a user 'admin'");
    }
    let Some(header) = header else {
        return unauthorized("authentication required (HTTP basic)");
    };
    let ip = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |a| a.0.ip());
    let source = Source::of(ip);
    let Some(_turn) = auth.throttle.wait_turn(source).await else {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many login attempts",
            format!("too many wrong logins from {source}: wait and try again with the right credentials"),
            "TOO_MANY_ATTEMPTS",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return response;
    };
    match authorized(&auth.users, Some(&header)) {
        Some(user) => {
            auth.throttle.succeeded(source);
            request
                .extensions_mut()
                .insert(AuthenticatedUser(user.username.clone()));
            next.run(request).await
        }
        None => {
            let attempted = credentials(&header)
                .map(|(u, _)| String::from_utf8_lossy(&u).into_owned())
                .unwrap_or_default();
            auth.throttle.failed(source, &attempted);
            unauthorized("wrong username or password")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn basic_credentials() {
        let users = [
            User {
                username: "a".into(),
                password: "pw:with:colons".into(),
            },
            User {
                username: "b".into(),
                password: "x".into(),
            },
        ];
        let who = |h: Option<&str>| authorized(&users, h).map(|u| u.username.as_str());
        assert_eq!(who(Some(&basic("a:pw:with:colons"))), Some("a"));
        assert_eq!(who(Some(&basic("b:x"))), Some("b"));
        assert_eq!(who(Some(&basic("a:x"))), None);
        assert_eq!(who(Some(&basic("b:"))), None);
        assert_eq!(who(Some(&basic("c:x"))), None);
        assert_eq!(who(Some("Bearer abc")), None);
        assert_eq!(who(Some("Basic !!!")), None);
        assert_eq!(who(None), None);
        assert!(authorized(&[], Some(&basic(":"))).is_none());
    }
}
