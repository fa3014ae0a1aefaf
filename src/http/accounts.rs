//! `/v1/auth/*` and `/v1/me`: registration, sign-in, token rotation, sign-out.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::actors::hub::{LiveHub, SignInEnded};
use crate::auth::{JwtKeys, PasswordHashing};
use crate::cache::{FailureLimit, Redis};
use crate::config::Settings;
use crate::http::authz::AuthUser;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::ids::UserId;
use crate::store::{accounts, millis};
use crate::validation::Violations;

/// Login attempts for one email in a window, counted before the password is checked; a
/// success clears the count, so in effect five failures lock the email for the window.
pub const LOGIN_LIMIT: FailureLimit = FailureLimit {
    namespace: "ratelimit:login:",
    max: 5,
    window_s: 15 * 60,
};
/// Redis namespace of the per-address register and login budget.
const ADDRESS_LIMIT_NAMESPACE: &str = "ratelimit:auth-address:";
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(me);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
    /// 1 to 80 characters; surrounding whitespace is dropped.
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    pub display_name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A user as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl From<accounts::User> for UserView {
    fn from(user: accounts::User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            created_at: millis(user.created_at),
        }
    }
}

/// A signed-in session: the user and a fresh token pair.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

impl RegisterRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let mut v = Violations::new();
        v.check(
            is_plausible_email(&self.email),
            "email",
            "must be an email address",
        );
        let chars = self.password.chars().count();
        v.check(
            (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars),
            "password",
            "must be 10 to 256 characters",
        );
        let name = self.display_name.trim().chars().count();
        v.check(
            (1..=MAX_DISPLAY_NAME_CHARS).contains(&name),
            "display_name",
            "must be 1 to 80 characters",
        );
        Ok(v.finish()?)
    }
}

/// One `@`, a non-empty local part, a dotted domain; the real check is the mail we never send.
pub(crate) fn is_plausible_email(email: &str) -> bool {
    if email.len() > MAX_EMAIL_CHARS || email.chars().any(char::is_whitespace) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = Session), crate::http::error::doc::Public, crate::http::error::doc::JsonBody, crate::http::error::doc::RateLimited,
    (status = 409, description = "`email_taken`: an account with this email exists", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/auth/register")]
async fn register(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    jwt: web::Data<JwtKeys>,
    hashing: web::Data<PasswordHashing>,
    settings: web::Data<Settings>,
    client: ClientAddr,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    body.validate()?;
    limit_address(&redis, &settings, client).await?;
    let hash = hashing.hash(body.password.clone()).await?;
    let user = accounts::create_user(&pg, body.email.trim(), body.display_name.trim(), &hash)
        .await?
        .ok_or_else(|| ApiError::conflict("email_taken", "an account with this email exists"))?;
    let session = open_session(&pg, &jwt, user).await?;
    Ok(HttpResponse::Created().json(session))
}

/// Signs in with email and password. Each attempt is counted before the password is
/// checked: the sixth within the window, and any beyond the address's budget, is refused
/// with 429.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Session), crate::http::error::doc::Public, crate::http::error::doc::JsonBody, crate::http::error::doc::RateLimited,
    (status = 401, description = "`unauthorized`: no account with this email and password", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/auth/login")]
async fn login(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    jwt: web::Data<JwtKeys>,
    hashing: web::Data<PasswordHashing>,
    settings: web::Data<Settings>,
    client: ClientAddr,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let subject = login_subject(&body.email)?;
    limit_address(&redis, &settings, client).await?;
    if let Some(retry_after_s) = LOGIN_LIMIT.take_attempt(&redis, &subject).await? {
        return Err(ApiError::RateLimited { retry_after_s });
    }
    let user = accounts::user_by_email(&pg, body.email.trim()).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = hashing.verify(body.password.clone(), stored).await?;
    match user {
        Some(user) if matches => {
            // The attempt is forgiven with the failures before it, as before.
            LOGIN_LIMIT.reset(&redis, &subject).await?;
            Ok(HttpResponse::Ok().json(open_session(&pg, &jwt, user).await?))
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// The per-email limit's key: the email trimmed and lower-cased. An email too long to be one
/// is refused before it becomes a Redis key.
fn login_subject(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_CHARS {
        return Err(ApiError::field("email", "must be at most 254 characters"));
    }
    Ok(email.to_lowercase())
}

/// Counts a register or login attempt against the client address's budget
/// (`PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE`): each may cost an Argon2 hash.
async fn limit_address(
    redis: &Redis,
    settings: &Settings,
    client: ClientAddr,
) -> Result<(), ApiError> {
    let limit = FailureLimit {
        namespace: ADDRESS_LIMIT_NAMESPACE,
        max: settings.auth_attempts_per_minute,
        window_s: 60,
    };
    match limit.take_attempt(redis, &client.limit_key()).await? {
        Some(retry_after_s) => Err(ApiError::RateLimited { retry_after_s }),
        None => Ok(()),
    }
}

/// Trades a refresh token for a new pair. A token presented twice revokes its whole family.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = Session), crate::http::error::doc::Public, crate::http::error::doc::JsonBody,
    (status = 401, description = "`unauthorized`: the refresh token is unknown, expired or used (a used one revokes its family)", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/auth/refresh")]
async fn refresh(
    pg: web::Data<PgPool>,
    jwt: web::Data<JwtKeys>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    match accounts::rotate(&pg, &body.refresh_token).await? {
        accounts::Rotation::Rotated {
            user,
            token,
            family,
        } => {
            let user = accounts::user_by_id(&pg, user)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            let access_token = jwt.issue_in_family(user.id.0, family)?;
            Ok(HttpResponse::Ok().json(Session {
                user: user.into(),
                access_token,
                refresh_token: token,
                token_type: "Bearer",
                expires_in: jwt.ttl_s(),
            }))
        }
        accounts::Rotation::Reused => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            Err(ApiError::Unauthorized)
        }
        accounts::Rotation::Refused => Err(ApiError::Unauthorized),
    }
}

/// Signs out: the refresh token's family (this sign-in) can no longer be used, and the live
/// sessions opened with its access tokens get `revoked` and close. Other sign-ins of the
/// same user (other phones) stay signed in.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 204, description = "the token's family is revoked (also when the token is unknown)"), crate::http::error::doc::Public, crate::http::error::doc::JsonBody))]
#[post("/v1/auth/logout")]
async fn logout(
    pg: web::Data<PgPool>,
    hub: web::Data<actix::Addr<LiveHub>>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some((user, family)) = accounts::revoke_family_of(&pg, &body.refresh_token).await? {
        hub.do_send(SignInEnded { user, family });
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserView), crate::http::error::doc::Authenticated))]
#[get("/v1/me")]
async fn me(pg: web::Data<PgPool>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    // A valid token of a deleted account is as good as no token.
    let user = accounts::user_by_id(&pg, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

async fn open_session(
    pg: &PgPool,
    jwt: &JwtKeys,
    user: accounts::User,
) -> Result<Session, ApiError> {
    let (refresh_token, family) = accounts::start_family(pg, user.id).await?;
    let access_token = jwt.issue_in_family(user.id.0, family)?;
    Ok(Session {
        user: user.into(),
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: jwt.ttl_s(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_emails_have_one_at_and_a_dotted_domain() {
        assert!(is_plausible_email("a@b.co"));
        assert!(!is_plausible_email("a@b"));
        assert!(!is_plausible_email("@b.co"));
        assert!(!is_plausible_email("a@@b.co"));
        assert!(!is_plausible_email("a b@c.co"));
        assert!(!is_plausible_email("a@.co"));
    }
}
