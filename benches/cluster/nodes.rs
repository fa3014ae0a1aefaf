//! The nodes of a bench cluster: `pettysync serve` processes of the release binary on the
//! round's stores, each with its own `PETTYSYNC_NODE_ID`, their CPU time from `/proc`, and
//! their `/metrics`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::support::cpu::read_stat;

/// How long a node may take to listen and reach the broker.
const START_BUDGET: Duration = Duration::from_secs(60);

/// One `serve` process, killed when dropped.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) base: String,
    child: Child,
}

impl Node {
    /// Starts a node with `env` (the round's stores) and waits until it listens and reached
    /// the broker.
    pub(crate) fn start(env: &[(String, String)], name: &str) -> anyhow::Result<Node> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pettysync"))
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PETTYSYNC_NODE_ID", name)
            .env("PETTYSYNC_HTTP_ADDR", "127.0.0.1:0")
            .env("PETTYSYNC_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting `pettysync serve`")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let (lines_tx, lines) = mpsc::channel();
        // The log is read to its end (so the pipe never fills); only the start lines matter.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut node = Node {
            name: name.to_owned(),
            base: String::new(),
            child,
        };
        let deadline = Instant::now() + START_BUDGET;
        let (mut address, mut connected, mut tail) = (None, false, Vec::new());
        while address.is_none() || !connected {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                bail!(
                    "{name} did not start within {START_BUDGET:?}:\n{}",
                    tail.join("\n")
                );
            };
            if line.contains("HTTP listening") {
                address = line
                    .split("address=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned);
            }
            connected |= line.contains("connected to the MQTT broker");
            tail.push(line);
        }
        node.base = format!("http://{}", address.unwrap_or_default());
        Ok(node)
    }

    /// CPU ticks (user + system) of the process so far.
    pub(crate) fn ticks(&self) -> u64 {
        read_stat(format!("/proc/{}/stat", self.child.id())).map_or(0, |stat| stat.ticks)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU ticks of every process whose command is `comm` (the Redis server), 0 when none.
pub(crate) fn ticks_of_command(comm: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| read_stat(entry.path().join("stat")))
        .filter(|stat| stat.comm == comm)
        .map(|stat| stat.ticks)
        .sum()
}

/// A node's `/metrics` text.
pub(crate) async fn scrape(http: &reqwest::Client, node: &Node) -> anyhow::Result<String> {
    let response = http
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .with_context(|| format!("{}: GET /metrics", node.name))?;
    Ok(response.text().await?)
}

/// The value of the series `name` (any labels) that also carries `label`, summed; 0 if absent.
pub(crate) fn series(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter(|line| line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|value| value.is_finite())
        .sum()
}

/// Waits until every node sees all of them as members (`/readyz`).
pub(crate) async fn wait_for_members(http: &reqwest::Client, nodes: &[Node]) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_BUDGET;
    loop {
        let mut all = true;
        for node in nodes {
            let body: serde_json::Value =
                match http.get(format!("{}/readyz", node.base)).send().await {
                    Ok(response) => response.json().await.unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
            let seen = body["members"].as_array().map_or(0, Vec::len);
            all &= seen == nodes.len();
        }
        if all {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the nodes did not all see each other within {START_BUDGET:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
