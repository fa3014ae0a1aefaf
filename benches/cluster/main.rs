//! What running several nodes costs (issue 13): end-to-end ingest with 1, 2 and 3
//! `pettysync serve` processes of the release binary on the same stores and the broker's
//! shared subscription, the share of messages a node reads for a collar another node owns
//! (round robin, as Mosquitto deals them), the CPU a forward costs and the delay it adds.
//!
//! Every round has fresh stores; the 1-node round is the same run's baseline of the others.
//! On this 2-core machine every node shares the same cores (and the stores), so more nodes
//! show overhead, not gain: the figures say what a forward costs, not how far a cluster
//! scales.
//!
//! - `nodes`: the node processes, their CPU time and metrics;
//! - `fleet`: the owner and collars (over HTTP), the QoS 1 publishers;
//! - `round`: one round of N nodes.
//!
//! Run with `cargo bench --bench cluster -- [--quick]` (or `scripts/bench.sh`).

#[path = "../support/mod.rs"]
mod support;

mod fleet;
mod nodes;
mod round;

use std::time::Duration;

use support::summary::{Better, Row};

use crate::round::{round, Figures, Plan};

const BENCH: &str = "cluster";
/// The whole run's budget.
const RUN_BUDGET: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        support::summary::check_format();
        println!("cluster: a benchmark; run it with `cargo bench --bench cluster -- [--quick]`");
        return;
    }
    let plan = if args.iter().any(|arg| arg == "--quick") {
        Plan {
            collars: 100,
            per_collar: 40,
            paced_s: 5,
        }
    } else {
        Plan {
            collars: 200,
            per_collar: 100,
            paced_s: 15,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async move {
        match tokio::time::timeout(RUN_BUDGET, run(plan)).await {
            Ok(Ok(())) => 0,
            Ok(Err(error)) => {
                eprintln!("cluster: {error:#}");
                1
            }
            Err(_) => {
                eprintln!("cluster: the run did not finish within {RUN_BUDGET:?}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    println!(
        "cluster: {}; {} collars, {} samples each per round, through the shared subscription",
        support::host::machine(),
        plan.collars,
        plan.per_collar
    );
    let mut rounds: Vec<Figures> = Vec::new();
    for count in 1..=3 {
        rounds.push(round(count, plan).await?);
    }
    println!();
    println!(
        "nodes  msg/s  vs 1 node  node CPU/msg  Redis CPU/msg  forwarded  \
         receipt → actor p50/p99: local, forwarded"
    );
    let base = rounds[0].clone();
    let bounds = |delay: Option<(f64, f64)>| {
        delay.map_or("-".to_owned(), |(p50, p99)| format!("≤ {p50} / ≤ {p99} ms"))
    };
    for figures in &rounds {
        println!(
            "{:5}  {:5.0}  {:8.0} %  {:9.1} µs  {:10.1} µs  {:8.1} %  {}, {}",
            figures.nodes,
            figures.rate,
            100.0 * figures.rate / base.rate,
            figures.node_cpu_us,
            figures.redis_cpu_us,
            100.0 * figures.forwarded_share(),
            bounds(figures.local_delay_ms),
            bounds(figures.delay_ms),
        );
    }
    println!();
    record(&base, &rounds);
    let incomplete: Vec<usize> = rounds
        .iter()
        .filter(|f| !f.complete())
        .map(|f| f.nodes)
        .collect();
    anyhow::ensure!(
        incomplete.is_empty(),
        "rounds with {incomplete:?} nodes did not store every sample in time"
    );
    Ok(())
}

/// The summary rows: ingest per node count beside the 1-node round, the forwarded share, and
/// what a forward costs (CPU over the 1-node round per forwarded sample, delay beside a
/// message its collar's owner read).
fn record(base: &Figures, rounds: &[Figures]) {
    for figures in rounds {
        let n = figures.nodes;
        let nodes = if n == 1 {
            "1 node".to_owned()
        } else {
            format!("{n} nodes")
        };
        let detail = format!(
            "{} samples in {:.1} s{}",
            figures.messages,
            figures.elapsed.as_secs_f64(),
            if n == 1 {
                "; the baseline of the other rounds".to_owned()
            } else {
                format!(
                    "; {:.0} % of the 1-node round",
                    100.0 * figures.rate / base.rate
                )
            }
        );
        Row::reference(
            BENCH,
            format!("cluster: ingest, {nodes}"),
            figures.rate,
            "msg/s",
        )
        .detail(detail)
        .better(Better::Higher)
        .record();
        Row::reference(
            BENCH,
            format!("cluster: node CPU per message, {nodes}"),
            figures.node_cpu_us,
            "µs",
        )
        .detail(format!(
            "all node processes; Redis {:.1} µs",
            figures.redis_cpu_us
        ))
        .better(Better::Lower)
        .record();
        if n == 1 {
            continue;
        }
        Row::reference(
            BENCH,
            format!("cluster: forwarded share, {nodes}"),
            100.0 * figures.forwarded_share(),
            "%",
        )
        .detail("round-robin shared subscription (Mosquitto); a hash_clientid broker makes it ≈ 0")
        .record();
        if figures.forwarded > 0 {
            let extra = (figures.node_cpu_us + figures.redis_cpu_us)
                - (base.node_cpu_us + base.redis_cpu_us);
            let per_forward = extra / figures.forwarded_share();
            Row::reference(BENCH, format!("cluster: CPU per forwarded sample, {nodes}"), per_forward, "µs")
                .detail("nodes + Redis over the 1-node round, per forwarded sample (includes each node's fixed cost)")
                .better(Better::Lower)
                .record();
        }
        if let Some((p50, p99)) = figures.delay_ms {
            let local = figures
                .local_delay_ms
                .map_or("-".to_owned(), |(p50, p99)| format!("≤ {p50} / ≤ {p99} ms"));
            Row::reference(
                BENCH,
                format!("cluster: forwarded receipt → actor p99, {nodes}"),
                p99,
                "ms",
            )
            .detail(format!(
                "p50 ≤ {p50} ms (bucket bounds), paced at one sample per collar a second; \
                 read by its owner: {local}"
            ))
            .better(Better::Lower)
            .record();
        }
    }
}
