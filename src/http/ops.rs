//! Operations endpoints, outside `/api`: liveness, readiness, metrics.
//!
//! `/healthz` never touches the database (a slow database must not get
//! pods restarted); `/readyz` does, and also fails while draining, so the
//! load balancer stops sending traffic before the process exits.

use std::sync::atomic::Ordering;

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Reply as _;

use super::context::Ctx;
use super::error::ApiError;
use super::reply::json;
use super::route::{route, Call, Reply, Route};
use crate::telemetry::exemplars;
use crate::telemetry::metrics::METRICS as REGISTRY;

pub const PROBES: &[Route] = &[
    route!(GET "/healthz" => health),
    route!(GET "/readyz" => readiness),
];

/// Whether `route` (a template) is one of the [`PROBES`].
pub fn is_probe(route: &str) -> bool {
    PROBES.iter().any(|probe| probe.template == route)
}

/// Served on the API's address, or alone on `metrics_listen` when set.
pub const METRICS: &[Route] = &[route!(GET "/metrics" => metrics)];

async fn health(_call: Call) -> Reply {
    // A fixed answer: nothing to build or serialize per probe.
    let mut response = warp::reply::Response::new(r#"{"status":"ok"}"#.into());
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn metrics(call: Call) -> Reply {
    let accept = call
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    render_metrics(&call.ctx, exemplars::wanted(accept))
}

async fn readiness(call: Call) -> Reply {
    let ctx = &call.ctx;
    if ctx.draining.load(Ordering::Relaxed) {
        return Err(ApiError::NotReady("shutting down".into()));
    }
    let version = ctx
        .db
        .run(|store| store.schema_version())
        .await
        .map_err(|e| ApiError::NotReady(e.report()))?;
    if version < ctx.schema_needed {
        return Err(ApiError::NotReady(format!(
            "database schema is at version {version}, this release needs {}",
            ctx.schema_needed
        )));
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"status": "ready"}),
    ))
}

fn render_metrics(ctx: &Ctx, openmetrics: bool) -> Reply {
    let pool = ctx.db.store().pool_state();
    REGISTRY.pool_max.set(i64::from(pool.max));
    REGISTRY
        .pool_connections
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle));
    REGISTRY
        .pool_connections
        .with_label_values(&["busy"])
        .set(i64::from(pool.open.saturating_sub(pool.idle)));
    let text = REGISTRY.render().map_err(ApiError::Internal)?;
    let (body, content_type) = match openmetrics {
        true => (exemplars::openmetrics(&text), exemplars::CONTENT_TYPE),
        false => (text, "text/plain; version=0.0.4; charset=utf-8"),
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
