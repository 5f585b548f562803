//! `/api/nodes`: the fleet's nodes and their state; add, remove, drain and undrain (admin: the
//! role table denies every change by default). And the `X-Ollama-Dash-Node` header every routed
//! answer carries.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use ollama_dash_core::fleet::{NodeConfig, NodeStatus};
use ollama_dash_core::generation::Placement;
use serde::Serialize;

use super::AppState;
use super::error::ApiResult;
use super::json::{JsonBody, Path};

/// The header naming the node that served an answer.
pub(crate) const NODE_HEADER: &str = "x-ollama-dash-node";

/// The node routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/nodes", get(list).post(add))
        .route("/api/nodes/{name}", delete(remove))
        .route("/api/nodes/{name}/drain", post(drain))
        .route("/api/nodes/{name}/undrain", post(undrain))
}

/// `GET /api/nodes` body.
#[derive(Debug, Serialize)]
struct Nodes {
    nodes: Vec<NodeStatus>,
}

/// `GET /api/nodes`: every node's state, VRAM, load and counts.
async fn list(State(state): State<AppState>) -> Json<Nodes> {
    Json(Nodes {
        nodes: state.dashboard.fleet().status(),
    })
}

/// `POST /api/nodes` with a node as in `[[nodes]]`: 201 with its state; kept in the store.
/// 400 naming a bad field, 409 for a name in use.
async fn add(
    State(state): State<AppState>,
    JsonBody(node): JsonBody<NodeConfig>,
) -> ApiResult<(StatusCode, Json<NodeStatus>)> {
    let added = state.dashboard.add_node(node).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// `DELETE /api/nodes/{name}`: 204; calls running there finish. 404 for an unknown node, 409
/// for a configured one (remove it from the configuration).
async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    state.dashboard.remove_node(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/nodes/{name}/drain`: no new requests go there; running ones finish.
async fn drain(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Nodes>> {
    state.dashboard.drain_node(&name, true).await?;
    Ok(list(State(state)).await)
}

/// `POST /api/nodes/{name}/undrain`: the node takes requests again.
async fn undrain(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Nodes>> {
    state.dashboard.drain_node(&name, false).await?;
    Ok(list(State(state)).await)
}

/// Adds `X-Ollama-Dash-Node` once the generation was placed on a node.
pub(crate) fn with_node(mut response: Response, placement: &Placement) -> Response {
    if let Some((node, _)) = placement.get()
        && let Ok(value) = HeaderValue::from_str(&node)
    {
        response.headers_mut().insert(NODE_HEADER, value);
    }
    response
}
