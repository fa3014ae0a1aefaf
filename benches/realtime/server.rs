//! Phase 2, the server under test: started in this process against databases, a Redis
//! prefix and topic prefix of its own, connected to the private broker; and what the
//! measuring task knows about the run ([`Ctx`]).

use std::time::{Duration, Instant};

use anyhow::bail;
use pettysync::config::Settings;
use secrecy::SecretString;
use serde_json::Value;

use crate::broker::Broker;
use crate::cpu::note_server_threads;
use crate::plan::{Clock, Plan};
use crate::support::server::{isolated_settings, launch, random_secret, serve};

/// Live mode ends this long after the last watcher leaves (the default is 30 s); the bench
/// keeps the collars reporting until then, then lets them fall back to their normal interval.
pub(crate) const LIVE_GRACE_S: u64 = 2;

/// The server under test and how to reach it.
#[derive(Clone)]
pub(crate) struct ServerInfo {
    pub(crate) base: String,
    pub(crate) settings: Settings,
    pub(crate) admin_token: String,
    pub(crate) prefix: String,
    pub(crate) database: String,
    /// The run's id: client ids and collar serials carry it, so runs never collide.
    pub(crate) run_id: String,
}

/// What the measuring task needs.
pub(crate) struct Ctx {
    pub(crate) plan: Plan,
    pub(crate) clock: Clock,
    pub(crate) server: ServerInfo,
    pub(crate) broker_port: u16,
    /// The private broker, restarted before each phase; killed when the context is dropped.
    pub(crate) broker: std::sync::Mutex<Broker>,
}

impl Ctx {
    /// Processes whose CPU time is shown beside this one's threads.
    pub(crate) fn watched(&self) -> Vec<(&'static str, u32)> {
        let broker = self.broker.lock().map_or(0, |broker| broker.child.id());
        vec![("broker: private Mosquitto", broker)]
    }
}

/// Starts the server on this thread with isolated databases, prefix and MQTT identity,
/// connected to the private broker.
pub(crate) async fn start_server(run_id: &str, broker_port: u16) -> anyhow::Result<ServerInfo> {
    let mut settings = isolated_settings("realtime", run_id)?;
    let database = format!("pettysync_bench_realtime_{run_id}");
    let admin_token = random_secret();
    settings.mqtt_url = SecretString::from(format!(
        "mqtt://127.0.0.1:{broker_port}?client_id=pettysync-bench-{run_id}"
    ));
    let prefix = format!("bench/{run_id}");
    settings.mqtt_topic_prefix = prefix.clone();
    settings.admin_token = Some(SecretString::from(admin_token.clone()));
    settings.live_grace_s = LIVE_GRACE_S;
    // One owner holds every session of the bench: lift the per-user cap (issue 8) above it.
    settings.ws_max_sessions_per_user = usize::MAX;
    let application = launch(&settings).await?;
    note_server_threads();
    let base = serve(application, "realtime");
    Ok(ServerInfo {
        base,
        settings,
        admin_token,
        prefix,
        database,
        run_id: run_id.to_owned(),
    })
}

/// Waits until `/readyz` says the stores and the broker answer (S3 and SNS are not used).
pub(crate) async fn wait_ready(
    http: &reqwest::Client,
    server: &ServerInfo,
    budget: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + budget;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(response) = http.get(format!("{}/readyz", server.base)).send().await {
            if let Ok(body) = response.json::<Value>().await {
                let ok = ["postgres", "mongodb", "redis", "mqtt"]
                    .iter()
                    .all(|name| body["checks"][name] == "ok");
                if ok {
                    return Ok(());
                }
                last = body.to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server was not ready within {budget:?}: {last}")
}
