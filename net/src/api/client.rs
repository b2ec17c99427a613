//! A typed client of the operator API over `ureq`: plain HTTP, or HTTPS trusting only
//! the certificates of a CA file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use psionic_core::ClusterCommand;
use psionic_core::dispatch::PlanRequest;
use psionic_core::plan::ServingPolicy;
use psionic_core::state::AuthorizationPolicy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::http::{Method, Request};
use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};

use super::{
    CancelAnswer, CandidatesAnswer, CapabilitiesAnswer, CommandAnswer, KeyRotationAnswer, MembersAnswer, PlanAnswer,
    Reply, RequestAnswer, RequestBody, StateAnswer, StatusReport, TransferAnswer, TransferBody,
};
use crate::Consistency;

/// How long a connection may take to open.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How long a request may take (a proposal waits for its commit).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A status code and the route's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub reply: Reply<T>,
}

impl<T> Answer<T> {
    /// The route's own answer, whatever its status; `None` for a [`super::Failure`].
    pub fn answer(self) -> Option<T> {
        self.reply.answer()
    }
}

/// What a streaming submission got: its events, or an answer (it was not taken).
#[derive(Debug)]
pub enum Streamed {
    /// Taken: the events, `ended` last (a stream cut before it ends in an error).
    Events(super::events::EventStream),
    /// Not taken.
    NotTaken(Answer<RequestAnswer>),
}

/// Why a request got no answer this client could read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the node is not listening there, or the connection failed.
    #[error("cannot reach the operator API at {addr}: {message} (is the node running? see `--operator`)")]
    Unreachable {
        /// Where.
        addr: SocketAddr,
        /// What went wrong.
        message: String,
    },
    /// The CA file holds no certificate this client can use.
    #[error("no CA certificate to trust: {message}")]
    BadCa {
        /// What went wrong.
        message: String,
    },
    /// An answer that is not one the route gives.
    #[error("{path}: the node answered {status} with a body this client cannot read ({message}): {body}")]
    Unreadable {
        /// The route.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Why it could not be read.
        message: String,
        /// The body.
        body: String,
    },
}

/// A client of one node's operator API.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// For answers that stream: no bound on the whole exchange.
    streaming: ureq::Agent,
    addr: SocketAddr,
    scheme: &'static str,
    bearer: Option<String>,
}

impl Client {
    /// Plain HTTP to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self::with_tls_config(addr, "http", TlsConfig::default())
    }

    /// HTTPS to `addr`, trusting only the certificates in `ca_pem`.
    pub fn with_ca(addr: SocketAddr, ca_pem: &[u8]) -> Result<Self, ClientError> {
        let mut roots = Vec::new();
        for item in ureq::tls::parse_pem(ca_pem) {
            match item {
                Ok(PemItem::Certificate(certificate)) => roots.push(certificate),
                Ok(_) => {}
                Err(error) => {
                    return Err(ClientError::BadCa {
                        message: error.to_string(),
                    });
                }
            }
        }
        if roots.is_empty() {
            let message = "no PEM certificate in the file".to_owned();
            return Err(ClientError::BadCa { message });
        }
        #[allow(deprecated)] // ring: see the server's configuration
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(provider)
            .build();
        Ok(Self::with_tls_config(addr, "https", tls))
    }

    fn with_tls_config(addr: SocketAddr, scheme: &'static str, tls: TlsConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_WITHIN))
            .timeout_global(Some(ANSWER_WITHIN))
            .http_status_as_error(false)
            .tls_config(tls.clone())
            .build()
            .new_agent();
        let streaming = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_WITHIN))
            .timeout_recv_response(Some(ANSWER_WITHIN))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .new_agent();
        Self {
            agent,
            streaming,
            addr,
            scheme,
            bearer: None,
        }
    }

    /// Sends `token` as the bearer of every request.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.trim().to_owned());
        self
    }

    /// Where it connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One request; the status and the body as it came.
    pub fn exchange(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<(u16, String), ClientError> {
        let mut response = self.send_raw(&self.agent, method, path, body)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| self.unreachable(error.to_string()))?;
        Ok((status, text))
    }

    fn unreachable(&self, message: String) -> ClientError {
        ClientError::Unreachable {
            addr: self.addr,
            message,
        }
    }

    /// Sends one request on `agent`; the response, its body unread.
    fn send_raw(
        &self,
        agent: &ureq::Agent,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}://{}{path}", self.scheme, self.addr));
        if let Some(token) = &self.bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        let request = request
            .body(body.unwrap_or_default().to_vec())
            .map_err(|error| self.unreachable(error.to_string()))?;
        agent.run(request).map_err(|error| self.unreachable(error.to_string()))
    }

    /// `POST /v1/requests` of a streaming request: its events as they arrive, or the
    /// answer when it was not taken.
    pub fn submit_streaming(&self, request: &RequestBody) -> Result<Streamed, ClientError> {
        let body = serde_json::to_vec(request).expect("an API body encodes");
        let mut response = self.send_raw(&self.streaming, Method::POST, super::REQUESTS, Some(&body))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|error| self.unreachable(error.to_string()))?;
            let reply = Reply::decode(&text).map_err(|error| ClientError::Unreadable {
                path: super::REQUESTS.to_owned(),
                status,
                message: error.to_string(),
                body: text,
            })?;
            return Ok(Streamed::NotTaken(Answer { status, reply }));
        }
        Ok(Streamed::Events(super::events::EventStream::new(
            response.into_body().into_reader(),
        )))
    }

    /// A request whose answer is read as the route's `T`, or a failure.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer<T>, ClientError> {
        let (status, text) = self.exchange(method, path, body)?;
        match Reply::decode(&text) {
            Ok(reply) => Ok(Answer { status, reply }),
            Err(error) => Err(ClientError::Unreadable {
                path: path.to_owned(),
                status,
                message: error.to_string(),
                body: text,
            }),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.call(Method::GET, path, None)
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        let bytes = serde_json::to_vec(body).expect("an API body encodes");
        self.call(method, path, Some(&bytes))
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Answer<StatusReport>, ClientError> {
        self.get(super::STATUS)
    }

    /// `GET /v1/state`.
    pub fn state(&self, consistency: Consistency) -> Result<Answer<StateAnswer>, ClientError> {
        self.get(&super::with_consistency(super::STATE, consistency))
    }

    /// `GET /v1/members`.
    pub fn members(&self, consistency: Consistency) -> Result<Answer<MembersAnswer>, ClientError> {
        self.get(&super::with_consistency(super::MEMBERS, consistency))
    }

    /// `GET /v1/candidates`.
    pub fn candidates(&self) -> Result<Answer<CandidatesAnswer>, ClientError> {
        self.get(super::CANDIDATES)
    }

    /// `GET /v1/capabilities`.
    pub fn capabilities(&self) -> Result<Answer<CapabilitiesAnswer>, ClientError> {
        self.get(super::CAPABILITIES)
    }

    /// `GET /metrics`: the status and the exposition text.
    pub fn metrics(&self) -> Result<(u16, String), ClientError> {
        self.exchange(Method::GET, super::METRICS, None)
    }

    /// `POST /v1/commands`.
    pub fn command(&self, command: &ClusterCommand) -> Result<Answer<CommandAnswer>, ClientError> {
        self.send(Method::POST, super::COMMANDS, command)
    }

    /// `POST /v1/artifacts/{digest}/stage`.
    pub fn stage(
        &self,
        artifact: &psionic_core::Digest,
        body: &super::StageBody,
    ) -> Result<Answer<super::StageAnswer>, ClientError> {
        self.send(Method::POST, &super::stage_path(artifact), body)
    }

    /// `PUT /v1/serving-policy`.
    pub fn set_serving_policy(&self, policy: &ServingPolicy) -> Result<Answer<CommandAnswer>, ClientError> {
        self.send(Method::PUT, super::SERVING_POLICY, policy)
    }

    /// `PUT /v1/authorization`.
    pub fn set_authorization(&self, policy: &AuthorizationPolicy) -> Result<Answer<CommandAnswer>, ClientError> {
        self.send(Method::PUT, super::AUTHORIZATION, policy)
    }

    /// `POST /v1/leadership/transfer`.
    pub fn transfer_leadership(&self, body: &TransferBody) -> Result<Answer<TransferAnswer>, ClientError> {
        self.send(Method::POST, super::LEADERSHIP_TRANSFER, body)
    }

    /// `POST /v1/node/key-rotation`.
    pub fn rotate_key(&self) -> Result<Answer<KeyRotationAnswer>, ClientError> {
        self.call(Method::POST, super::KEY_ROTATION, None)
    }

    /// `POST /v1/requests`.
    pub fn submit(&self, request: &RequestBody) -> Result<Answer<RequestAnswer>, ClientError> {
        self.send(Method::POST, super::REQUESTS, request)
    }

    /// `GET /v1/requests/{id}`.
    pub fn request(&self, id: &str) -> Result<Answer<RequestAnswer>, ClientError> {
        self.get(&super::request_path(id))
    }

    /// `POST /v1/requests/{id}/cancel`.
    pub fn cancel(&self, id: &str) -> Result<Answer<CancelAnswer>, ClientError> {
        self.call(Method::POST, &super::cancel_path(id), None)
    }

    /// `POST /v1/plans`.
    pub fn plan(&self, request: &PlanRequest) -> Result<Answer<PlanAnswer>, ClientError> {
        self.send(Method::POST, super::PLANS, request)
    }
}
