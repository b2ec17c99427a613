//! Who may call what: a bearer token names an operator credential; each route (and,
//! for `POST /v1/commands`, each command kind) needs one scope, checked before the
//! request's body is read.

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use psionic_core::state::Scope;

use super::ApiState;
use super::credentials::Credentials;
pub use crate::api::AuthRefusal;
use crate::api::Failure;

/// The credential id of the token in `operator_token_file` (it holds every scope).
pub const OPERATOR_TOKEN_ID: &str = "operator-token";
/// Shortest token accepted, in bytes.
pub const TOKEN_LEN_MIN: usize = 16;

/// The credential a request authenticated as.
#[derive(Clone, Debug)]
pub struct Authorized {
    /// Its id.
    pub credential: String,
    /// Its scopes.
    pub scopes: BTreeSet<Scope>,
}

impl Authorized {
    /// Whether it may do what `needed` allows.
    pub fn may(&self, needed: Scope) -> Result<(), AuthRefusal> {
        if self.scopes.contains(&needed) {
            Ok(())
        } else {
            Err(AuthRefusal::MissingScope {
                credential: self.credential.clone(),
                needed,
            })
        }
    }
}

/// The credential whose token the request bears.
pub fn authenticate(credentials: &Credentials, headers: &HeaderMap) -> Result<Authorized, AuthRefusal> {
    if credentials.is_empty() {
        return Err(AuthRefusal::NoTokenConfigured);
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(AuthRefusal::MissingBearer)?;
    let credential = credentials
        .authenticate(bearer.trim().as_bytes())
        .ok_or(AuthRefusal::WrongToken)?;
    Ok(Authorized {
        credential: credential.id.clone(),
        scopes: credential.scopes.clone(),
    })
}

/// The answer to a request refused before it ran: 401 without a known token, 403
/// without the scope (or any credential configured).
pub fn refused(reason: AuthRefusal) -> Response {
    let message = reason.to_string();
    Failure::Unauthorized { reason, message }.into_response()
}

/// The status a refused credential is answered with.
pub(super) fn status_of(reason: &AuthRefusal) -> StatusCode {
    match reason {
        AuthRefusal::NoTokenConfigured | AuthRefusal::MissingScope { .. } => StatusCode::FORBIDDEN,
        AuthRefusal::MissingBearer | AuthRefusal::WrongToken => StatusCode::UNAUTHORIZED,
    }
}

/// Lets a request through that bears a credential holding `needed` (none: a scope
/// some command needs, `operate` or `admin`; the handler checks the command's own once
/// the body is decoded); records who it is.
pub(super) async fn require(
    State((api, needed)): State<(ApiState, Option<Scope>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let authorized = authenticate(&api.credentials(), request.headers()).and_then(|authorized| {
        match needed {
            Some(scope) => authorized.may(scope),
            None => authorized
                .may(Scope::Operate)
                .or_else(|missing| authorized.may(Scope::Admin).map_err(|_| missing)),
        }
        .map(|()| authorized)
    });
    match authorized {
        Ok(authorized) => {
            request.extensions_mut().insert(authorized);
            next.run(request).await
        }
        Err(reason) => refused(reason),
    }
}

/// As [`require`] with the `read` scope, when the API is bound off loopback; on
/// loopback reads are open.
pub(super) async fn require_read_off_loopback(State(api): State<ApiState>, request: Request, next: Next) -> Response {
    if !api.guarded_reads {
        return next.run(request).await;
    }
    require(State((api, Some(Scope::Read))), request, next).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_a_configured_bearer_token_passes_and_only_with_its_scopes() {
        let credentials = Credentials::all_scopes(OPERATOR_TOKEN_ID, b"operator secret, 2026");
        let authorized = authenticate(&credentials, &bearer("Bearer operator secret, 2026")).unwrap();
        assert_eq!(authorized.credential, OPERATOR_TOKEN_ID);
        assert!(Scope::ALL.into_iter().all(|scope| authorized.may(scope).is_ok()));
        let refusal = |headers: &HeaderMap| authenticate(&credentials, headers).unwrap_err();
        assert_eq!(
            refusal(&bearer("Bearer operator secret, 2027")),
            AuthRefusal::WrongToken
        );
        assert_eq!(refusal(&bearer("Basic b3BlcmF0b3I=")), AuthRefusal::MissingBearer);
        assert_eq!(refusal(&HeaderMap::new()), AuthRefusal::MissingBearer);
        let none = authenticate(&Credentials::default(), &bearer("Bearer operator secret, 2026"));
        assert_eq!(none.unwrap_err(), AuthRefusal::NoTokenConfigured);

        let reader = Authorized {
            credential: "reader".to_owned(),
            scopes: [Scope::Read].into(),
        };
        assert_eq!(
            reader.may(Scope::Admin),
            Err(AuthRefusal::MissingScope {
                credential: "reader".to_owned(),
                needed: Scope::Admin
            })
        );
    }
}
