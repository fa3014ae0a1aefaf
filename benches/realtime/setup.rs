//! The set-up over HTTP: an owner, then C pets, each with a provisioned and paired collar
//! and a safe circle fence.

use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::collars::{home_of, Collar};
use crate::plan::Plan;
use crate::server::ServerInfo;

/// Set-up requests (pet, collar, pairing, fence) and provisionings at once.
pub(crate) const SETUP_IN_FLIGHT: usize = 16;
/// Radius of each pet's safe circle fence; collars walk within
/// [`WALK_RADIUS_M`](crate::collars) of its centre.
const FENCE_RADIUS_M: f64 = 500.0;

/// Registers the owner, then creates C pets, each with a provisioned and paired collar and
/// a safe circle fence, 16 pets at a time.
pub(crate) async fn setup(
    http: &reqwest::Client,
    server: &ServerInfo,
    plan: Plan,
    budget: Duration,
) -> anyhow::Result<(String, Vec<Collar>)> {
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    let body =
        json!({"email": email, "password": "correct horse battery", "display_name": "Bench"});
    let auth = call(http, server, "/v1/auth/register", None, &body, 201).await;
    let auth = auth.map_err(anyhow::Error::msg)?;
    let token = auth["access_token"]
        .as_str()
        .context("register answers with an access token")?
        .to_owned();
    let run = &server.run_id[..8];
    let made = tokio::time::timeout(
        budget,
        stream::iter(0..plan.pets)
            .map(|i| setup_pet(http, server, &token, run, i))
            .buffer_unordered(SETUP_IN_FLIGHT)
            .collect::<Vec<_>>(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("set-up did not finish within {budget:?}"))?;
    let mut collars = Vec::with_capacity(plan.pets);
    let mut failures = 0;
    let mut first_failure = None;
    for result in made {
        match result {
            Ok(collar) => collars.push(collar),
            Err(error) => {
                failures += 1;
                first_failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_failure {
        println!("  {failures} pets failed to set up; first: {error}");
    }
    if collars.is_empty() {
        bail!("no pet could be set up");
    }
    // Dense indices 0..C, so a pet's index is its collar's.
    collars.sort_by_key(|c| c.idx);
    for (i, collar) in collars.iter_mut().enumerate() {
        collar.idx = i as u32;
    }
    Ok((token, collars))
}

async fn setup_pet(
    http: &reqwest::Client,
    server: &ServerInfo,
    token: &str,
    run: &str,
    i: usize,
) -> Result<Collar, String> {
    let pet = call(
        http,
        server,
        "/v1/pets",
        Some(token),
        &json!({"name": format!("Bench {i}"), "species": "dog"}),
        201,
    )
    .await?;
    let pet_id = pet["id"].as_str().ok_or("a pet has an id")?.to_owned();
    let serial = format!("BENCH-{run}-{i:05}");
    let admin = Some(server.admin_token.as_str());
    let provisioned = call(
        http,
        server,
        "/v1/admin/collars",
        admin,
        &json!({"serial": serial}),
        201,
    )
    .await?;
    let code = provisioned["pairing_code"]
        .as_str()
        .ok_or("a pairing code")?;
    let pairing = json!({"serial": serial, "pairing_code": code});
    call(
        http,
        server,
        &format!("/v1/pets/{pet_id}/collar"),
        Some(token),
        &pairing,
        200,
    )
    .await?;
    let home = home_of(i);
    let fence = json!({"name": "Home", "kind": "safe",
        "geometry": {"type": "Circle", "center": [home.1, home.0], "radius_m": FENCE_RADIUS_M}});
    call(
        http,
        server,
        &format!("/v1/pets/{pet_id}/geofences"),
        Some(token),
        &fence,
        201,
    )
    .await?;
    Ok(Collar::new(i as u32, &serial, pet_id, &server.prefix, home))
}

/// POSTs JSON and returns the answer's JSON when the status is `expect`.
async fn call(
    http: &reqwest::Client,
    server: &ServerInfo,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
    expect: u16,
) -> Result<Value, String> {
    let mut request = http.post(format!("{}{path}", server.base)).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    if status != expect {
        return Err(format!("POST {path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("POST {path}: {e}: {text}"))
}
