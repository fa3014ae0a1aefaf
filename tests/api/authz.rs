//! The authorization matrix: every pet, member, collar and geofence route, called by the
//! pet's owner, a family member, a stranger and an anonymous client.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    content_type, expect_json, expect_status, read, spawn_app, string_at, unique_serial,
    unique_suffix, TestApp, TestUser,
};

/// Who calls a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    Stranger,
    Family,
    Owner,
}
use Caller::*;

/// The callers of every row of the matrix, least privileged first so that the owner's
/// change comes last.
const CALLERS: [Caller; 4] = [Anonymous, Stranger, Family, Owner];

/// A pet with an owner and a family member, and a stranger with a pet of their own.
struct Household {
    app: TestApp,
    owner: TestUser,
    family: TestUser,
    stranger: TestUser,
    pet_id: String,
    pet_name: String,
}

impl Household {
    async fn new() -> Household {
        let app = spawn_app().await;
        let owner = app.register_someone().await;
        let family = app.register_someone().await;
        let stranger = app.register_someone().await;
        let pet_name = format!("Biscuit {}", unique_suffix());
        let pet = app.create_pet(&owner, &pet_name).await;
        let pet_id = string_at(&pet, "/id");
        app.add_member(&owner, &pet_id, &family.email).await;
        // The stranger is a real user with a pet, not merely someone without pets.
        app.create_pet(&stranger, "Stranger's cat").await;
        Household {
            app,
            owner,
            family,
            stranger,
            pet_id,
            pet_name,
        }
    }

    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Anonymous => None,
            Stranger => self.stranger.bearer(),
            Family => self.family.bearer(),
            Owner => self.owner.bearer(),
        }
    }

    /// One row of the matrix: the statuses that anonymous, stranger, family and owner get,
    /// called in that order.
    async fn check(&self, method: Method, path: &str, body: Option<Value>, statuses: [u16; 4]) {
        for (caller, status) in CALLERS.into_iter().zip(statuses) {
            self.check_one(caller, method.clone(), path, body.as_ref(), status)
                .await;
        }
    }

    /// Calls a route as `caller` and checks the status. An error must be the matching
    /// problem, and nothing a stranger gets back may name the pet.
    async fn check_one(
        &self,
        caller: Caller,
        method: Method,
        path: &str,
        body: Option<&Value>,
        status: u16,
    ) {
        let route = format!("{caller:?} {method} {path}");
        let response = self
            .app
            .request(method, path, self.token(caller), body)
            .await;
        let (actual, headers, text) = read(response).await;
        assert_eq!(actual.as_u16(), status, "{route}: body {text}");
        if let Some(code) = error_code(status) {
            assert!(
                content_type(&headers).starts_with("application/problem+json"),
                "{route}: an error is a problem document"
            );
            let problem: Value = serde_json::from_str(&text).expect("a problem is JSON");
            assert_eq!(problem["code"], code, "{route}: {text}");
        }
        if caller == Stranger {
            assert!(
                !text.contains(&self.pet_id) && !text.contains(&self.pet_name),
                "{route}: a stranger's answer names the pet: {text}"
            );
        }
    }

    fn pet_path(&self, rest: &str) -> String {
        format!("/v1/pets/{}{}", self.pet_id, rest)
    }

    async fn create_fence(&self, name: &str) -> String {
        let path = self.pet_path("/geofences");
        let response = self
            .app
            .post(&path, self.owner.bearer(), &fence(name))
            .await;
        string_at(&expect_json(response, StatusCode::CREATED).await, "/id")
    }
}

fn error_code(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("unauthorized"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        _ => None,
    }
}

fn fence(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "safe",
        "geometry": {"type": "Circle", "center": [2.35, 48.85], "radius_m": 150.5},
    })
}

#[actix_web::test]
async fn pet_routes_answer_each_caller_by_role() {
    let house = Household::new().await;
    let pet = house.pet_path("");

    house
        .check(Method::GET, &pet, None, [401, 404, 200, 200])
        .await;
    let patch = json!({"weight_kg": 21.5});
    house
        .check(Method::PATCH, &pet, Some(patch), [401, 404, 403, 200])
        .await;
    house
        .check(Method::DELETE, &pet, None, [401, 404, 403, 204])
        .await;
    house.check_one(Family, Method::GET, &pet, None, 404).await;
    house.check_one(Owner, Method::GET, &pet, None, 404).await;
}

#[actix_web::test]
async fn the_pet_list_shows_each_caller_only_their_pets_and_role() {
    let house = Household::new().await;
    let role_in_list = |list: Value| -> Option<String> {
        let items = list["items"].as_array().expect("a list has items").clone();
        let pet = items
            .into_iter()
            .find(|pet| pet["id"] == house.pet_id.as_str())?;
        Some(string_at(&pet, "/role"))
    };

    let owners = house.app.get("/v1/pets", house.owner.bearer()).await;
    let owners = expect_json(owners, StatusCode::OK).await;
    assert_eq!(role_in_list(owners).as_deref(), Some("owner"));
    let familys = house.app.get("/v1/pets", house.family.bearer()).await;
    let familys = expect_json(familys, StatusCode::OK).await;
    assert_eq!(role_in_list(familys).as_deref(), Some("family"));
    // The stranger's own list must not mention the pet either.
    house
        .check_one(Stranger, Method::GET, "/v1/pets", None, 200)
        .await;
    house
        .check_one(Anonymous, Method::GET, "/v1/pets", None, 401)
        .await;
}

#[actix_web::test]
async fn member_routes_answer_each_caller_by_role() {
    let house = Household::new().await;
    let newcomer = house.app.register_someone().await;
    let members = house.pet_path("/members");
    let add = json!({"email": newcomer.email, "role": "family"});
    let newcomer_path = house.pet_path(&format!("/members/{}", newcomer.id));

    house
        .check(Method::GET, &members, None, [401, 404, 200, 200])
        .await;
    house
        .check(Method::POST, &members, Some(add), [401, 404, 403, 201])
        .await;
    house
        .check(Method::DELETE, &newcomer_path, None, [401, 404, 403, 204])
        .await;
}

#[actix_web::test]
async fn a_family_member_may_leave_a_pet_and_then_no_longer_sees_it() {
    let house = Household::new().await;
    let own_membership = house.pet_path(&format!("/members/{}", house.family.id));

    house
        .check_one(Family, Method::DELETE, &own_membership, None, 204)
        .await;
    house
        .check_one(Family, Method::GET, &house.pet_path(""), None, 404)
        .await;
    house
        .check_one(Owner, Method::GET, &house.pet_path(""), None, 200)
        .await;
}

#[actix_web::test]
async fn collar_routes_answer_each_caller_by_role() {
    let house = Household::new().await;
    let serial = unique_serial();
    let code = house.app.provision_collar(&serial).await;
    let collar = house.pet_path("/collar");
    let pair = json!({"serial": serial, "pairing_code": code});

    house
        .check(Method::POST, &collar, Some(pair), [401, 404, 403, 200])
        .await;
    house
        .check(Method::DELETE, &collar, None, [401, 404, 403, 204])
        .await;
}

#[actix_web::test]
async fn geofence_routes_answer_each_caller_by_role() {
    let house = Household::new().await;
    let fences = house.pet_path("/geofences");
    let fence_path = format!("/v1/geofences/{}", house.create_fence("Garden").await);
    let rename = json!({"name": "Back garden"});

    house
        .check(Method::GET, &fences, None, [401, 404, 200, 200])
        .await;
    house
        .check(
            Method::POST,
            &fences,
            Some(fence("Park")),
            [401, 404, 201, 201],
        )
        .await;
    house
        .check(
            Method::PATCH,
            &fence_path,
            Some(rename),
            [401, 404, 200, 200],
        )
        .await;
    // The family member deletes this fence, so the owner deletes another one.
    for (caller, status) in [(Anonymous, 401), (Stranger, 404), (Family, 204)] {
        house
            .check_one(caller, Method::DELETE, &fence_path, None, status)
            .await;
    }
    let owners_fence = format!("/v1/geofences/{}", house.create_fence("Street").await);
    house
        .check_one(Owner, Method::DELETE, &owners_fence, None, 204)
        .await;

    let listed = house.app.get(&fences, house.owner.bearer()).await;
    let text = expect_status(listed, StatusCode::OK).await;
    assert!(
        !text.contains("Back garden") && !text.contains("Street"),
        "{text}"
    );
}
