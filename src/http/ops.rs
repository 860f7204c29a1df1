//! Operations endpoints, outside `/api`: liveness, readiness, metrics.
//!
//! `/healthz` never touches the database (a slow database must not get
//! pods restarted); `/readyz` does, and also fails while draining, so the
//! load balancer stops sending traffic before the process exits.

use std::sync::atomic::Ordering;

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::Filter;

use super::{json, respond, with_ctx, ApiError, Ctx};
use crate::telemetry::metrics::METRICS;

pub fn routes(ctx: Ctx, with_metrics: bool) -> BoxedFilter<(Response,)> {
    // GET /healthz
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| json(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    // GET /readyz
    let ready = warp::path!("readyz")
        .and(warp::get())
        .and(with_ctx(ctx.clone()))
        .then(readiness)
        .map(respond);
    let ops = health.or(ready).unify();
    if with_metrics {
        ops.or(metrics_route(ctx)).unify().boxed()
    } else {
        ops.boxed()
    }
}

/// GET /metrics, also served alone on `metrics_listen` when that is set.
pub fn metrics_route(ctx: Ctx) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .and(with_ctx(ctx))
        .map(render_metrics)
        .boxed()
}

async fn readiness(ctx: Ctx) -> Result<Response, ApiError> {
    if ctx.draining.load(Ordering::Relaxed) {
        return Err(ApiError::NotReady("shutting down".into()));
    }
    let version = ctx
        .db
        .run(|store| store.schema_version())
        .await
        .map_err(|e| ApiError::NotReady(format!("database unavailable: {e}")))?;
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

fn render_metrics(ctx: Ctx) -> Response {
    let pool = ctx.db.store().pool_state();
    METRICS.pool_max.set(i64::from(pool.max));
    METRICS
        .pool_connections
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle));
    METRICS
        .pool_connections
        .with_label_values(&["busy"])
        .set(i64::from(pool.open.saturating_sub(pool.idle)));
    let mut response = METRICS.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
