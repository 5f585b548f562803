//! [`Caller`]: who sent a request (key name, role, address), for traces and scoping.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ollama_dash_core::{Origin, Role, TraceStart};

use crate::auth::Principal;

/// The caller of a request, from what the auth middleware left in its extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Name of the API key (`admin` for `AUTH_TOKEN`).
    pub key: Option<String>,
    /// Its role (viewer when unknown).
    pub role: Role,
    /// Client IP address.
    pub addr: Option<String>,
    /// The node the request pins its generation to (`X-Ollama-Dash-Node`), if any.
    pub node: Option<String>,
}

impl Caller {
    /// The key name a `user` is scoped to; `None` for viewers and admins, who see everything.
    pub fn scope(&self) -> Option<&str> {
        (self.role == Role::User)
            .then_some(self.key.as_deref())
            .flatten()
    }

    /// Whether this caller may see or change something owned by `owner`.
    pub fn owns(&self, owner: Option<&str>) -> bool {
        self.role == Role::Admin || owner == self.key.as_deref()
    }

    /// The origin of a generation by this caller through `endpoint`; its trace records the
    /// status each error is answered with.
    pub fn origin(&self, endpoint: &str) -> Origin {
        Origin {
            endpoint: endpoint.to_owned(),
            api_key: self.key.clone(),
            client_addr: self.addr.clone(),
            input: None,
            status_of: Some(crate::http::error::status_of),
            node: self.node.clone(),
        }
    }

    /// A trace start for a generation by this caller.
    pub fn trace(&self, endpoint: &str, model: &str, stream: bool, input: String) -> TraceStart {
        TraceStart {
            endpoint: endpoint.to_owned(),
            model: model.to_owned(),
            api_key: self.key.clone(),
            client_addr: self.addr.clone(),
            stream,
            input: Some(input),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>();
        Ok(Self {
            key: principal.map(|p| p.name.clone()),
            role: principal.map_or(Role::Viewer, |p| p.role),
            addr: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            node: parts
                .headers
                .get(crate::http::nodes::NODE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        })
    }
}
