//! `/v1/push-devices` (phones registered for push, each an SNS platform endpoint) and
//! `/v1/notifications` (what the caller was notified of, newest first).

use actix_web::{delete, get, post, web, HttpResponse};
use aws_sdk_sns::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::token_hash;
use crate::config::Settings;
use crate::http::authz::AuthUser;
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::store::millis;
use crate::store::notifications::{self as store, Platform};

/// Longest push token accepted (APNs tokens are 64 hex digits, FCM ones about 160 chars).
pub const MAX_TOKEN_CHARS: usize = 4096;
/// Most enabled devices one user may have: each notification is pushed to all of them.
pub const MAX_DEVICES_PER_USER: i64 = 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register_device)
        .service(list_devices)
        .service(delete_device)
        .service(list_notifications)
        .service(read_notification);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterDevice {
    /// `apns` or `fcm`.
    pub platform: Platform,
    /// The token the phone's push service gave the app (1 to 4096 characters, no control
    /// characters; surrounding whitespace is dropped).
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub token: String,
}

/// A registered phone. Neither its token nor its SNS endpoint is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    pub platform: String,
    /// False once SNS reported the endpoint disabled; registering the token again
    /// re-enables it.
    pub enabled: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl From<store::DeviceRow> for DeviceView {
    fn from(row: store::DeviceRow) -> Self {
        Self {
            id: row.id,
            platform: row.platform,
            enabled: row.enabled,
            created_at: millis(row.created_at),
            disabled_at: row.disabled_at.map(millis),
        }
    }
}

/// One notification; `kind` is an alert kind or `follow`, `like`, `comment`. `data` holds
/// the `title` and `body` that were pushed and the ids of what it is about.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub kind: String,
    pub at: i64,
    pub read_at: Option<i64>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<store::NotificationRow> for NotificationView {
    fn from(row: store::NotificationRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            at: millis(row.at),
            read_at: row.read_at.map(millis),
            data: row.data.0,
        }
    }
}

/// Registers the phone for push on the configured SNS platform application (201), or
/// reuses its registration (200, same id): SNS keeps one endpoint per token, a disabled one
/// is re-enabled, and a phone that changed hands moves to the caller. 422 on `platform`
/// when this server has no platform application for it.
#[utoipa::path(post, path = "/v1/push-devices", tag = "notifications", request_body = RegisterDevice, security(("bearer" = [])),
    responses((status = 201, body = DeviceView), (status = 200, description = "the token was registered already: the same device", body = DeviceView),
        crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody,
        (status = 409, description = "`too_many_devices`: the account has 20 enabled devices", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad token, one the push service refused, or a platform this server has no push for", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/push-devices")]
async fn register_device(
    pg: web::Data<PgPool>,
    sns: web::Data<aws_sdk_sns::Client>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    body: ApiJson<RegisterDevice>,
) -> Result<HttpResponse, ApiError> {
    let RegisterDevice { platform, token } = body.into_inner();
    let token = parse_token(&token)?;
    let app_arn = platform_application(&settings, platform)
        .ok_or_else(|| ApiError::field("platform", "push is not configured for this platform"))?;
    let hash = token_hash(token);
    if store::enabled_devices_except(&pg, caller.id, platform, &hash).await? >= MAX_DEVICES_PER_USER
    {
        return Err(ApiError::conflict(
            "too_many_devices",
            "this account has the most push devices allowed; delete one first",
        ));
    }
    let endpoint_arn = ensure_endpoint(&sns, app_arn, token).await?;
    let registered = store::register_device(&pg, caller.id, platform, &hash, &endpoint_arn).await?;
    let view = DeviceView::from(registered.device);
    Ok(if registered.created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The caller's push devices, newest first.
#[utoipa::path(get, path = "/v1/push-devices", tag = "notifications", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<DeviceView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query))]
#[get("/v1/push-devices")]
async fn list_devices(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let rows = store::list_devices(&pg, caller.id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(Paged {
        items: paged
            .items
            .into_iter()
            .map(DeviceView::from)
            .collect::<Vec<_>>(),
        next_cursor: paged.next_cursor,
    }))
}

/// Unregisters one of the caller's devices and deletes its SNS endpoint (204); 404 for a
/// device that is not the caller's.
#[utoipa::path(delete, path = "/v1/push-devices/{id}", tag = "notifications", params(("id" = uuid::Uuid, Path, description = "The push device's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[delete("/v1/push-devices/{id}")]
async fn delete_device(
    pg: web::Data<PgPool>,
    sns: web::Data<aws_sdk_sns::Client>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let endpoint_arn = store::delete_device(&pg, caller.id, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound)?;
    // The device is gone either way; an endpoint SNS could not delete now is never
    // published to again, and the same token registered later finds it again.
    if let Err(error) = sns
        .delete_endpoint()
        .endpoint_arn(&endpoint_arn)
        .send()
        .await
    {
        if error.code() != Some("NotFound") {
            tracing::warn!(error = %aws_sdk_sns::error::DisplayErrorContext(&error), "could not delete an SNS endpoint");
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<NotificationView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query))]
#[get("/v1/notifications")]
async fn list_notifications(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let rows = store::list_notifications(&pg, caller.id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(Paged {
        items: paged
            .items
            .into_iter()
            .map(NotificationView::from)
            .collect::<Vec<_>>(),
        next_cursor: paged.next_cursor,
    }))
}

/// Marks one of the caller's notifications read (204; again is harmless).
#[utoipa::path(post, path = "/v1/notifications/{id}/read", tag = "notifications", params(("id" = uuid::Uuid, Path, description = "The notification's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[post("/v1/notifications/{id}/read")]
async fn read_notification(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    if !store::mark_read(&pg, caller.id, path.into_inner()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

fn parse_token(raw: &str) -> Result<&str, ApiError> {
    let token = raw.trim();
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return Err(ApiError::field("token", "must be 1 to 4096 characters"));
    }
    if token.chars().any(char::is_control) {
        return Err(ApiError::field(
            "token",
            "must not contain control characters",
        ));
    }
    Ok(token)
}

fn platform_application(settings: &Settings, platform: Platform) -> Option<&str> {
    match platform {
        Platform::Apns => settings.sns_apns_app_arn.as_deref(),
        Platform::Fcm => settings.sns_fcm_app_arn.as_deref(),
    }
}

/// The SNS endpoint of `token` on the platform application, made if new, and enabled with
/// this token. SNS answers a second create for a token with the same endpoint, unless the
/// endpoint's attributes differ (SNS disabled it): then its error names the endpoint.
async fn ensure_endpoint(
    sns: &aws_sdk_sns::Client,
    app_arn: &str,
    token: &str,
) -> Result<String, ApiError> {
    let created = sns
        .create_platform_endpoint()
        .platform_application_arn(app_arn)
        .token(token)
        .send()
        .await;
    let arn = match created {
        Ok(output) => output
            .endpoint_arn
            .ok_or_else(|| anyhow::anyhow!("SNS created an endpoint without an ARN"))?,
        Err(error) => match error.message().and_then(existing_endpoint) {
            Some(arn) => arn.to_owned(),
            None if error.code() == Some("InvalidParameter") => {
                return Err(ApiError::field(
                    "token",
                    "the push service refused this token",
                ));
            }
            None => return Err(sns_failure("creating an SNS endpoint", error)),
        },
    };
    let attributes = sns
        .get_endpoint_attributes()
        .endpoint_arn(&arn)
        .send()
        .await
        .map_err(|error| sns_failure("reading an SNS endpoint", error))?
        .attributes
        .unwrap_or_default();
    let enabled = attributes
        .get("Enabled")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if !enabled || attributes.get("Token").map(String::as_str) != Some(token) {
        sns.set_endpoint_attributes()
            .endpoint_arn(&arn)
            .attributes("Token", token)
            .attributes("Enabled", "true")
            .send()
            .await
            .map_err(|error| sns_failure("re-enabling an SNS endpoint", error))?;
    }
    Ok(arn)
}

/// The endpoint ARN in SNS's "Endpoint <arn> already exists with the same Token, but
/// different attributes" error.
fn existing_endpoint(message: &str) -> Option<&str> {
    if !message.contains("already exists") {
        return None;
    }
    message
        .split_whitespace()
        .find(|word| word.starts_with("arn:") && word.contains(":endpoint/"))
}

fn sns_failure<E>(doing: &'static str, error: aws_sdk_sns::error::SdkError<E>) -> ApiError
where
    E: std::error::Error + Send + Sync + 'static,
{
    ApiError::Internal(anyhow::Error::new(error).context(doing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_read_from_a_duplicate_token_error() {
        let message = "Invalid parameter: Token Reason: Endpoint \
            arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/60027af8 already exists \
            with the same Token, but different attributes.";
        assert_eq!(
            existing_endpoint(message),
            Some("arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/60027af8")
        );
        assert_eq!(existing_endpoint("Invalid parameter: Token"), None);
    }

    #[test]
    fn a_token_is_one_to_4096_printable_characters() {
        assert_eq!(parse_token("  abc  ").unwrap(), "abc");
        assert!(parse_token("   ").is_err());
        assert!(parse_token(&"a".repeat(MAX_TOKEN_CHARS)).is_ok());
        assert!(parse_token(&"a".repeat(MAX_TOKEN_CHARS + 1)).is_err());
        assert!(parse_token("ab\ncd").is_err());
    }
}
