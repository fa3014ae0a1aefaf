//! Everything handlers receive as `web::Data`, in one struct registered once per worker.

use actix::prelude::*;
use actix_web::web;
use sqlx::postgres::PgPool;

use crate::actors::commands::Commands;
use crate::actors::events::{GetPetState, SocialEvent};
use crate::actors::feed::FeedFanout;
use crate::actors::hub::LiveHub;
use crate::actors::session::SessionLinks;
use crate::actors::Actors;
use crate::auth::{JwtKeys, PasswordHashing};
use crate::cache::Redis;
use crate::config::Settings;
use crate::http::authz::AdminToken;
use crate::http::health::Dependencies;
use crate::store::history::History;
use crate::store::posts::MediaUrls;

/// Everything handlers receive as `web::Data`, registered once per worker.
#[derive(Clone)]
pub(super) struct AppData {
    pub(super) pg: web::Data<PgPool>,
    pub(super) mongo: web::Data<mongodb::Database>,
    pub(super) redis: web::Data<Redis>,
    pub(super) jwt: web::Data<JwtKeys>,
    pub(super) hashing: web::Data<PasswordHashing>,
    pub(super) admin: web::Data<AdminToken>,
    pub(super) dependencies: web::Data<Dependencies>,
    pub(super) metrics: web::Data<metrics_exporter_prometheus::PrometheusHandle>,
    pub(super) commands: web::Data<Commands>,
    pub(super) actors: web::Data<Actors>,
    pub(super) hub: web::Data<Addr<LiveHub>>,
    pub(super) state_source: web::Data<Recipient<GetPetState>>,
    pub(super) session_links: web::Data<SessionLinks>,
    pub(super) settings: web::Data<Settings>,
    pub(super) feed: web::Data<Addr<FeedFanout>>,
    pub(super) social_events: web::Data<Recipient<SocialEvent>>,
    pub(super) s3: web::Data<aws_sdk_s3::Client>,
    pub(super) media_urls: web::Data<MediaUrls>,
    pub(super) history: web::Data<History>,
    pub(super) sns: web::Data<aws_sdk_sns::Client>,
}

impl AppData {
    pub(super) fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.pg.clone())
            .app_data(self.mongo.clone())
            .app_data(self.redis.clone())
            .app_data(self.jwt.clone())
            .app_data(self.hashing.clone())
            .app_data(self.admin.clone())
            .app_data(self.dependencies.clone())
            .app_data(self.metrics.clone())
            .app_data(self.commands.clone())
            .app_data(self.actors.clone())
            .app_data(self.hub.clone())
            .app_data(self.state_source.clone())
            .app_data(self.session_links.clone())
            .app_data(self.settings.clone())
            .app_data(self.feed.clone())
            .app_data(self.social_events.clone())
            .app_data(self.s3.clone())
            .app_data(self.media_urls.clone())
            .app_data(self.history.clone())
            .app_data(self.sns.clone());
    }
}
