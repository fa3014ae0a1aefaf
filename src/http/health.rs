//! `/healthz` (the process answers), `/readyz` (every dependency answers) and `/metrics`.
//!
//! A readiness answer is reused for [`READINESS_TTL`], and only one probe of the
//! dependencies runs at a time: a flood of `/readyz` costs the six dependencies at most one
//! round of checks per TTL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::{get, web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use sqlx::PgPool;

use crate::cache::Redis;

/// How long one dependency may take to answer a readiness probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a readiness answer is reused before the dependencies are probed again.
pub const READINESS_TTL: Duration = Duration::from_secs(3);

/// The clients `/readyz` probes.
pub struct Dependencies {
    pub pg: PgPool,
    pub mongo: mongodb::Database,
    pub redis: Redis,
    pub s3: aws_sdk_s3::Client,
    pub s3_bucket: String,
    pub sns: aws_sdk_sns::Client,
    /// Whether the MQTT connections (collar messages in, commands out) are up.
    pub mqtt: std::sync::Arc<dyn Fn() -> bool + Send + Sync>,
    /// The last answer, shared by every worker.
    pub readiness: ReadinessCache,
    /// This node and the live-node set it sees.
    pub membership: crate::cluster::Membership,
}

/// The last readiness answer and when it was probed. The lock is held while probing, so
/// callers that arrive meanwhile wait for that probe instead of starting their own.
#[derive(Default)]
pub struct ReadinessCache(tokio::sync::Mutex<Option<(Instant, Readiness)>>);

/// Readiness: `status` and one entry per dependency, `ok` or `unreachable`; this node's id
/// and the cluster members it sees (itself included).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, &'static str>,
    /// This node's id (`PETTYSYNC_NODE_ID`).
    pub node: String,
    /// The live-node set as this node sees it, sorted.
    pub members: Vec<String>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Every dependency answers; 503 names the ones that do not. The answer may be up to
/// three seconds old.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
#[get("/readyz")]
async fn readyz(deps: web::Data<Dependencies>) -> HttpResponse {
    let mut body = {
        let mut last = deps.readiness.0.lock().await;
        match last.as_ref() {
            Some((at, readiness)) if at.elapsed() < READINESS_TTL => readiness.clone(),
            _ => {
                let readiness = probe(&deps).await;
                *last = Some((Instant::now(), readiness.clone()));
                readiness
            }
        }
    };
    let members = deps.membership.current();
    body.node = members.me().to_string();
    body.members = members.nodes().iter().map(ToString::to_string).collect();
    if body.status == READY {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

const READY: &str = "ready";

/// Checks every dependency at once.
async fn probe(deps: &Dependencies) -> Readiness {
    let (pg, mongo, redis, s3, sns) = tokio::join!(
        check("postgres", async {
            sqlx::query("SELECT 1")
                .execute(&deps.pg)
                .await
                .map(drop)
                .map_err(Into::into)
        }),
        check("mongodb", async {
            deps.mongo
                .run_command(mongodb::bson::doc! {"ping": 1})
                .await
                .map(drop)
                .map_err(Into::into)
        }),
        check("redis", deps.redis.ping()),
        check("s3", async {
            deps.s3
                .head_bucket()
                .bucket(&deps.s3_bucket)
                .send()
                .await
                .map(drop)
                .map_err(Into::into)
        }),
        check("sns", async {
            deps.sns
                .list_platform_applications()
                .send()
                .await
                .map(drop)
                .map_err(Into::into)
        }),
    );
    let mqtt = ("mqtt", (deps.mqtt)());
    let checks: BTreeMap<_, _> = [pg, mongo, redis, s3, sns, mqtt]
        .into_iter()
        .map(|(name, ok)| (name, if ok { "ok" } else { "unreachable" }))
        .collect();
    let ready = checks.values().all(|v| *v == "ok");
    Readiness {
        status: if ready { READY } else { "unavailable" },
        checks,
        node: String::new(),
        members: Vec::new(),
    }
}

/// Runs one probe with a deadline; the cause of a failure goes to the log, not the response.
async fn check(
    name: &'static str,
    probe: impl std::future::Future<Output = anyhow::Result<()>>,
) -> (&'static str, bool) {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => (name, true),
        Ok(Err(error)) => {
            tracing::warn!(dependency = name, error = ?error, "readiness check failed");
            (name, false)
        }
        Err(_) => {
            tracing::warn!(dependency = name, "readiness check timed out");
            (name, false)
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
#[get("/metrics")]
async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
