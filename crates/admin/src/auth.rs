//! HTTP basic authentication for `/gateway/v2/*`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::v2::{ApiError, V2};

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

/// Whether `authorization` (the header's value) carries the credentials of a configured user.
/// Every user is compared, each field in constant time, so timing does not reveal which user
/// or how much of a password matched.
pub fn authorized(users: &[User], authorization: Option<&str>) -> bool {
    let Some(encoded) = authorization.and_then(|h| {
        let (scheme, rest) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
    }) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let mut ok = subtle::Choice::from(0);
    for u in users {
        ok |= u.username.as_bytes().ct_eq(user) & u.password.as_bytes().ct_eq(password);
    }
    ok.into()
}

pub async fn require_user(State(api): State<V2>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorized(&api.users, header) {
        return next.run(request).await;
    }
    let msg = if api.users.is_empty() {
        "the admin API has no users: list them in admin.users of the configuration, or set GATEHOUSE_ADMIN_PASSWORD for a user 'admin'"
    } else if header.is_none() {
        "authentication required (HTTP basic)"
    } else {
        "wrong username or password"
    };
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
        assert!(authorized(&users, Some(&basic("a:pw:with:colons"))));
        assert!(authorized(&users, Some(&basic("b:x"))));
        assert!(!authorized(&users, Some(&basic("a:x"))));
        assert!(!authorized(&users, Some(&basic("b:"))));
        assert!(!authorized(&users, Some(&basic("c:x"))));
        assert!(!authorized(&users, Some("Bearer abc")));
        assert!(!authorized(&users, Some("Basic !!!")));
        assert!(!authorized(&users, None));
        assert!(!authorized(&[], Some(&basic(":"))));
    }
}
