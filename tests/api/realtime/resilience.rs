//! The server under trouble: its broker goes away and comes back; it is stopped with
//! SIGTERM while samples are in flight. Either way, nothing acknowledged is lost.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::{seqs, stored_samples, wait_for_samples};
use crate::collar::{now_ms, CollarLink, TestCollar, SETTLE};
use crate::helpers::{
    mongo_database, mqtt_url_with_client_id, poll_until, random_string, read, spawn_app_with,
    unique_serial, Isolation, TestApp,
};

/// The server's longest reconnect backoff is 30 s.
const RECONNECT: Duration = Duration::from_secs(40);

/// A Mosquitto of this test's own, on a free loopback port, that the test may kill.
struct PrivateBroker {
    port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl PrivateBroker {
    async fn start() -> PrivateBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("pettysync-broker-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let config =
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
        std::fs::write(dir.join("mosquitto.conf"), config).expect("the broker config is written");
        let mut broker = PrivateBroker {
            port,
            dir,
            process: None,
        };
        broker.run().await;
        broker
    }

    /// Starts Mosquitto and waits until it takes connections.
    async fn run(&mut self) {
        let process = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto starts");
        self.process = Some(process);
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(Ok(Some(status))) = self.process.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited: {status}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto does not listen on {}",
                self.port
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(&mut self) {
        let mut process = self.process.take().expect("the broker runs");
        process.kill().await.expect("mosquitto can be killed");
    }

    fn url(&self, client_id: &str) -> String {
        format!("mqtt://127.0.0.1:{}?client_id={client_id}", self.port)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `/readyz` until its status and MQTT check are as given; returns the body.
async fn readyz_until(app: &TestApp, status: StatusCode, mqtt: &str, within: Duration) -> Value {
    poll_until(
        &format!("/readyz {status} with mqtt {mqtt}"),
        within,
        || async move {
            let (actual, _, text) = read(app.get("/readyz", None).await).await;
            match serde_json::from_str::<Value>(&text) {
                Ok(body) if actual == status && body["checks"]["mqtt"] == mqtt => Ok(body),
                _ => Err(format!("{actual}: {text}")),
            }
        },
    )
    .await
}

#[actix_web::test]
async fn the_server_rides_out_a_broker_outage_without_losing_acknowledged_samples() {
    let mut broker = PrivateBroker::start().await;
    let broker_url = broker.url(&format!("pettysync-test-{}", Uuid::new_v4().simple()));
    let app = spawn_app_with(|settings| settings.mqtt_url = SecretString::from(broker_url)).await;
    readyz_until(&app, StatusCode::OK, "ok", SETTLE).await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let db = app.mongo().await;
    for seq in 1..=5 {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 90})))
            .await;
    }
    wait_for_samples(&db, &collar.serial, "5 samples", |s| s.len() >= 5).await;

    broker.kill().await;
    let body = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE, "unreachable", SETTLE).await;
    assert_eq!(body["checks"]["postgres"], "ok", "{body}");
    let (status, _, _) = read(app.get("/healthz", None).await).await;
    assert_eq!(status, StatusCode::OK, "HTTP answers without the broker");
    let state = app.pet_state(&owner, &collar.pet_id).await;
    assert_eq!(state["vitals"]["hr"], 90, "{state}");

    broker.run().await;
    readyz_until(&app, StatusCode::OK, "ok", RECONNECT).await;
    for seq in 6..=10 {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 95})))
            .await;
    }
    // The test collar reconnects by itself; everything it published is at the broker now.
    collar.link.flushed().await;
    let stored = wait_for_samples(&db, &collar.serial, "10 samples", |s| s.len() >= 10).await;
    let mut stored_seqs = seqs(&stored);
    stored_seqs.sort_unstable();
    assert_eq!(stored_seqs, (1..=10).collect::<Vec<i64>>());
}

/// `pettysync serve` as a child process, its log collected.
struct Server {
    process: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(env: &[(&str, String)]) -> Server {
        let mut process = pettysync(env, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pettysync serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(process.stderr.take().expect("stderr is piped")).lines();
        let collected = Arc::clone(&log);
        actix_web::rt::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                collected.lock().expect("the log lock").push(line);
            }
        });
        let server = Server { process, log };
        let server_ref = &server;
        poll_until(
            "the server to connect to the broker",
            SETTLE * 3,
            || async move {
                if server_ref.logged("connected to the MQTT broker") {
                    Ok(())
                } else {
                    Err(server_ref.tail())
                }
            },
        )
        .await;
        server
    }

    fn logged(&self, needle: &str) -> bool {
        self.log
            .lock()
            .expect("the log lock")
            .iter()
            .any(|l| l.contains(needle))
    }

    fn tail(&self) -> String {
        let log = self.log.lock().expect("the log lock");
        log[log.len().saturating_sub(20)..].join("\n")
    }

    /// Sends SIGTERM and waits for the exit.
    async fn terminate(mut self) {
        let pid = self.process.id().expect("the server runs").to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(kill.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(60), self.process.wait())
            .await
            .unwrap_or_else(|_| panic!("no exit 60 s after SIGTERM; log:\n{}", self.tail()))
            .expect("the exit status can be read");
        assert!(
            status.success(),
            "exit after SIGTERM: {status}; log:\n{}",
            self.tail()
        );
    }
}

/// The binary with `env` on top of the test environment, killed if the test drops it.
fn pettysync(env: &[(&str, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pettysync"));
    command.args(args).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Runs a short command; fails the test unless it exits 0. Returns its stdout.
async fn run_ok(env: &[(&str, String)], args: &[&str]) -> String {
    let output = tokio::time::timeout(Duration::from_secs(120), pettysync(env, args).output())
        .await
        .unwrap_or_else(|_| panic!("pettysync {args:?} still runs after 120 s"))
        .expect("the binary starts");
    assert!(
        output.status.success(),
        "pettysync {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_web::test]
async fn samples_in_flight_at_sigterm_are_all_stored_and_none_acknowledged_is_lost() {
    const SAMPLES: i64 = 200;
    let base = Settings::load().expect("the test environment's settings load");
    let isolation = Isolation::new();
    let client_id = format!("pettysync-test-{}", isolation.id);
    let prefix = format!("pettysync-test/{}", isolation.id);
    let broker = base.mqtt_url.expose_secret().to_string();
    let env = [
        ("PETTYSYNC_DATABASE_URL", isolation.database_url(&base)),
        ("PETTYSYNC_MONGODB_URL", isolation.mongodb_url(&base)),
        (
            "PETTYSYNC_REDIS_PREFIX",
            format!("pettysync:test:{}:", isolation.id),
        ),
        ("PETTYSYNC_HTTP_ADDR", "127.0.0.1:0".to_string()),
        (
            "PETTYSYNC_MQTT_URL",
            mqtt_url_with_client_id(&broker, &client_id),
        ),
        ("PETTYSYNC_MQTT_TOPIC_PREFIX", prefix.clone()),
        ("PETTYSYNC_JWT_SECRET", random_string(48)),
        ("PETTYSYNC_LOG", "info".to_string()),
        ("NO_COLOR", "1".to_string()),
    ];
    run_ok(&env, &["migrate"]).await;
    let serial = unique_serial();
    let printed = run_ok(&env, &["provision-collar", &serial]).await;
    assert!(
        printed.trim().starts_with(&serial),
        "prints `SERIAL CODE`: {printed}"
    );

    let server = Server::start(&env).await;
    let collar = CollarLink::connect_to(&broker, &prefix, &serial, false).await;
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    let start = now_ms();
    let sample = |seq: i64| json!({"v": 1, "seq": seq, "ts": start + seq, "hr": 90, "steps": 3});
    // The first one shows that the server's subscription is in place: none can miss it.
    collar.publish_sample(&sample(1)).await;
    wait_for_samples(&db, &serial, "the first sample", |s| !s.is_empty()).await;
    for seq in 2..=SAMPLES {
        collar.publish_sample(&sample(seq)).await;
    }
    server.terminate().await;

    collar.flushed().await;
    let before = stored_samples(&db, &serial).await.len();
    if before < SAMPLES as usize {
        // The rest were never acknowledged: the broker keeps them for the server's session.
        let again = Server::start(&env).await;
        let what = format!("all {SAMPLES} samples after a restart ({before} stored before)");
        wait_for_samples(&db, &serial, &what, |s| s.len() >= SAMPLES as usize).await;
        again.terminate().await;
    }
    let mut stored = seqs(&stored_samples(&db, &serial).await);
    stored.sort_unstable();
    assert_eq!(
        stored,
        (1..=SAMPLES).collect::<Vec<i64>>(),
        "every sample stored once; {before} were stored before the restart"
    );
}
