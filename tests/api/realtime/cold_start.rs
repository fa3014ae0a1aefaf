//! A restart in front of many collars: their actors are looked up in batches (one round of
//! queries for many serials), not one query round per collar. Run on a `serve` process of
//! its own, so its metrics are its own.

use std::time::Duration;

use serde_json::json;

use crate::cluster::counter_at;
use crate::faults::{wait_for_all_stored, Fleet};
use crate::fixtures::process::ServerProcess;
use crate::helpers::{mongo_database, unique_serial, Isolation};

const COLLARS: usize = 100;

#[actix_web::test]
async fn a_hundred_new_collars_are_looked_up_in_a_few_batches() {
    let base = pettysync::config::Settings::load().expect("settings load");
    let isolation = Isolation::new();
    let settings = isolation.settings(|_| {});
    let (_, server) = ServerProcess::migrated(&settings).await;
    let app = server.app(&settings);
    let mut serials = Vec::with_capacity(COLLARS);
    for _ in 0..COLLARS {
        let serial = unique_serial();
        app.provision_collar(&serial).await;
        serials.push(serial);
    }
    let before = counter_at(&app, "pettysync_collar_lookup_queries_total").await;
    let fleet = Fleet::connect(&app).await;
    let ts = crate::collar::now_ms();
    for serial in &serials {
        let sample = json!({"v": 1, "seq": 1, "ts": ts, "hr": 90});
        fleet.publish(serial, "telemetry", sample.to_string()).await;
    }
    fleet.flushed(Duration::from_secs(30)).await;
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    wait_for_all_stored(&db, &serials, COLLARS, Duration::from_secs(60)).await;

    let rounds = counter_at(&app, "pettysync_collar_lookup_queries_total").await - before;
    // One round per collar without batches; a handful with them (the first few go alone
    // while nothing else waits, the rest gather behind them).
    assert!(
        rounds >= 1.0 && rounds <= (COLLARS / 4) as f64,
        "{rounds} lookup rounds for {COLLARS} collars"
    );
}
