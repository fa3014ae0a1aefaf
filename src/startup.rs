//! Builds every client once (PostgreSQL, MongoDB, Redis, S3, SNS, MQTT) and the HTTP server,
//! and hands the clients to handlers as `web::Data`.

use std::net::TcpListener;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use self::app_data::AppData;
use self::limits::{session_caps, session_limits};
use crate::actors::alerts::{AlertSupervisor, DrainAlerts};
use crate::actors::archival::{ArchivalSupervisor, ArchiveStores, StopArchival};
use crate::actors::bus::{Link, LiveBus};
use crate::actors::collar::{CollarOutputs, IngestLag};
use crate::actors::commands::Commands;
use crate::actors::events::GetPetState;
use crate::actors::feed::FeedFanout;
use crate::actors::hub::LiveHub;
use crate::actors::mood_retrain::MoodRetrainer;
use crate::actors::notifications::{push_gate, NotificationSupervisor};
use crate::actors::persistence::{self, Drain, PersistenceSupervisor};
use crate::actors::registry::CollarRegistry;
use crate::actors::rollup::{RollupSupervisor, StopRollups};
use crate::actors::session::SessionLinks;
use crate::actors::voice_spool::{Spool, VoiceSpoolDrainer};
use crate::actors::Actors;
use crate::auth::{JwtKeys, PasswordHashing};
use crate::cache::Redis;
use crate::cluster::{self, Membership};
use crate::config::Settings;
use crate::http;
use crate::http::authz::AdminToken;
use crate::http::health::Dependencies;
use crate::ingest::mqtt::{self, Acker, MqttLink};
use crate::ingest::outbound::{self, Outbound};
use crate::ingest::pipeline::{Pipeline, PipelineOutputs};
use crate::ingest::voice::VoiceStore;
use crate::store::archive::RollupsSettled;
use crate::store::bus::Channels;
use crate::store::history::History;

mod app_data;
mod clients;
mod cluster_link;
mod limits;

pub use self::clients::{aws_config, mongo_database, s3_client, sns_client};

/// PostgreSQL connections per server.
const PG_POOL_SIZE: u32 = 20;
/// How long a request waits for a PostgreSQL connection (or for MongoDB to be found).
const STORE_WAIT: Duration = Duration::from_secs(3);

/// Least time shutdown gives the broker to take the last acknowledgements, even after the
/// drain timeout.
const DISCONNECT_WAIT_MIN: Duration = Duration::from_secs(1);

/// The running server: its HTTP listener, the actors and the background tasks it owns.
pub struct Application {
    port: u16,
    server: Server,
    mqtt: MqttLink,
    mqtt_task: JoinHandle<()>,
    outbound: Outbound,
    outbound_task: JoinHandle<()>,
    pipeline_task: JoinHandle<()>,
    pipeline_stop: watch::Sender<bool>,
    persistence: Addr<PersistenceSupervisor>,
    alerts: Addr<AlertSupervisor>,
    rollups: Addr<RollupSupervisor>,
    archival: Addr<ArchivalSupervisor>,
    arbiters: Vec<Arbiter>,
    membership: Membership,
    heartbeat_task: JoinHandle<()>,
    drain_timeout: Duration,
}

impl Application {
    /// Connects to everything (lazily, so a dependency that is down shows in `/readyz`
    /// instead of stopping the start), starts the actors and binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let jwt =
            JwtKeys::new(settings.require_jwt_secret()?).with_ttl(settings.access_token_ttl_s);
        let settings_drain_timeout = settings.drain_timeout();
        let node = cluster::node_id(&settings);
        let metrics = crate::telemetry::metrics_handle(node.as_str());
        let pg = PgPoolOptions::new()
            .max_connections(PG_POOL_SIZE)
            .acquire_timeout(STORE_WAIT)
            .connect_lazy(settings.database_url.expose_secret())
            .context("PETTYSYNC_DATABASE_URL")?;
        let mongo = mongo_database(&settings).await?;
        let redis = Redis::new(&settings).context("PETTYSYNC_REDIS_URL")?;
        let aws = aws_config(&settings).await;
        let s3 = s3_client(&aws, &settings);
        let sns = sns_client(&aws, &settings);
        // The first beat is in before ingest starts: a node joining a cluster sees the others
        // before it takes any collar.
        let (membership, heartbeat_task) =
            cluster::start_heartbeat(redis.clone(), node.clone(), settings.node_ttl()).await;
        let (forward, messages) = mpsc::channel(mqtt::ingest_queue(&settings));
        let (mqtt, mqtt_task) =
            mqtt::connect(&settings, &node, forward).context("PETTYSYNC_MQTT_URL")?;
        let (outbound, outbound_task) =
            outbound::connect(&settings, &node).context("PETTYSYNC_MQTT_URL")?;
        let commands = Commands::new(
            pg.clone(),
            outbound.client.clone(),
            settings.mqtt_topic_prefix.clone(),
        );

        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
        // The hub and the registry each need the other's address: make the hub's context
        // first, hand its address to the registry, then run the hub in it.
        let hub_context = actix::Context::<LiveHub>::new();
        let hub_addr = hub_context.address();
        let notifications =
            NotificationSupervisor::start(pg.clone(), sns.clone(), redis.clone(), &settings);
        let feed = FeedFanout::start(pg.clone(), redis.clone(), &settings);
        let alerts = {
            let supervisor = AlertSupervisor::new(
                pg.clone(),
                mongo.clone(),
                push_gate(redis.clone(), &settings),
                hub_addr.clone().recipient(),
                notifications.clone().recipient(),
            );
            Supervisor::start(move |_| supervisor)
        };
        MoodRetrainer::from_settings(pg.clone(), s3.clone(), &settings).start();
        let persistence = {
            let outputs = persistence::Outputs {
                pg: pg.clone(),
                acker: std::sync::Arc::new(Acker::new(mqtt.client.clone())),
                redis: redis.clone(),
                alerts: alerts.clone().recipient(),
            };
            let supervisor = PersistenceSupervisor::new(mongo.clone(), outputs);
            Supervisor::start(move |_| supervisor)
        };
        let history = History {
            pg: pg.clone(),
            mongo: mongo.clone(),
            s3: s3.clone(),
            bucket: settings.s3_bucket.clone(),
        };
        let rollups = RollupSupervisor::new(history.clone(), settings.rollup_interval()).start();
        let lag = IngestLag::default();
        let registry = CollarRegistry::new(
            pg.clone(),
            redis.clone(),
            arbiters.iter().map(Arbiter::handle).collect(),
            commands.clone(),
            membership.clone(),
            {
                let (hub, persistence, lag) = (hub_addr.clone(), persistence.clone(), lag.clone());
                move |registry| CollarOutputs {
                    hub: hub.recipient(),
                    persistence: persistence.recipient(),
                    registry: registry.recipient(),
                    lag,
                }
            },
        );
        // Live events and live mode across nodes go through the bus (a single node sends
        // nothing over it); the registry hears live mode from the bus, which sums the nodes.
        let bus = {
            let link = Link::start(
                Channels::new(redis.clone()),
                node.clone(),
                settings.node_ttl(),
            );
            let bus = LiveBus::new(
                membership.clone(),
                registry.clone().recipient(),
                hub_addr.clone().recipient(),
                Some(link),
                settings.node_ttl(),
            );
            bus.with_changes(registry.clone().recipient()).start()
        };
        let hub = hub_context.run(
            LiveHub::new(bus.clone().recipient(), settings.live_grace())
                .with_caps(session_caps(&settings))
                .with_peers(bus.clone().recipient()),
        );
        // A stored mood goes to the pet's live state (registry, or the owner node's through
        // the bus) and its watchers (hub).
        let announce = vec![
            registry.clone().recipient(),
            bus.clone().recipient(),
            hub.clone().recipient(),
        ];
        let mood = crate::actors::mood::start(
            pg.clone(),
            mongo.clone(),
            s3.clone(),
            alerts.clone(),
            announce,
            &settings,
        );
        let (pipeline_stop, stop_rx) = watch::channel(false);
        let voice = VoiceStore {
            pg: pg.clone(),
            s3: s3.clone(),
            bucket: settings.s3_bucket.clone(),
            mood: mood.clone().recipient(),
        };
        let drainer = VoiceSpoolDrainer::new(Spool {
            pg: pg.clone(),
            s3: s3.clone(),
            bucket: settings.s3_bucket.clone(),
            mood: mood.recipient(),
        });
        Supervisor::start(move |_| drainer);
        let stores = ArchiveStores {
            pg: pg.clone(),
            mongo: mongo.clone(),
            s3: s3.clone(),
        };
        let settled = RollupsSettled(pg.clone());
        let archival = ArchivalSupervisor::from_settings(&settings, stores, settled).start();
        let outputs = PipelineOutputs {
            registry: registry.clone(),
            persistence: persistence.clone(),
            acker: Acker::new(mqtt.client.clone()),
            commands: commands.clone(),
            voice,
            lag: lag.clone(),
            remote: cluster_link::start(&cluster_link::ClusterParts {
                settings: &settings,
                pg: &pg,
                redis: &redis,
                membership: &membership,
                registry: &registry,
                persistence: &persistence,
                acker: Acker::new(mqtt.client.clone()),
                stop: &stop_rx,
            }),
        };
        let pipeline = Pipeline::new(settings.mqtt_topic_prefix.clone(), outputs, stop_rx);
        let pipeline_task = tokio::spawn(pipeline.run(messages));

        let (dependencies_s3, dependencies_sns) = (s3.clone(), sns.clone());
        let dependencies = Dependencies {
            pg: pg.clone(),
            mongo: mongo.clone(),
            redis: redis.clone(),
            s3,
            s3_bucket: settings.s3_bucket.clone(),
            sns,
            mqtt: {
                let (inbound, outbound) = (mqtt.clone(), outbound.clone());
                std::sync::Arc::new(move || inbound.is_connected() && outbound.is_connected())
            },
            readiness: Default::default(),
            membership: membership.clone(),
        };
        let listener = TcpListener::bind(&settings.http_addr).context("PETTYSYNC_HTTP_ADDR")?;
        let address = listener.local_addr()?;
        tracing::info!(%address, "HTTP listening");

        let state_source: Recipient<GetPetState> = registry.clone().recipient();
        let session_links = SessionLinks {
            hub: hub.clone(),
            pg: pg.clone(),
            states: state_source.clone(),
            jwt: jwt.clone(),
            limits: session_limits(&settings),
        };
        let data = AppData {
            pg: web::Data::new(pg),
            mongo: web::Data::new(mongo),
            redis: web::Data::new(redis),
            jwt: web::Data::new(jwt),
            hashing: web::Data::new(PasswordHashing::new(settings.hash_concurrency())),
            admin: web::Data::new(AdminToken(settings.admin_token.clone())),
            dependencies: web::Data::new(dependencies),
            metrics: web::Data::new(metrics),
            commands: web::Data::new(commands),
            actors: web::Data::new(Actors {
                registry: registry.clone(),
                hub: hub.clone(),
                peers: bus.recipient(),
            }),
            hub: web::Data::new(hub),
            state_source: web::Data::new(state_source),
            session_links: web::Data::new(session_links),
            settings: web::Data::new(settings.clone()),
            feed: web::Data::new(feed),
            social_events: web::Data::new(notifications.recipient()),
            media_urls: web::Data::new(crate::store::posts::MediaUrls::new(
                dependencies_s3.clone(),
                &settings,
            )),
            s3: web::Data::new(dependencies_s3),
            sns: web::Data::new(dependencies_sns),
            history: web::Data::new(history),
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::middleware::observe))
                .configure(|cfg| data.register(cfg))
                .configure(http::configure)
        })
        .listen(listener)?
        .run();
        Ok(Self {
            port: address.port(),
            server,
            mqtt,
            mqtt_task,
            outbound,
            outbound_task,
            pipeline_task,
            pipeline_stop,
            persistence,
            alerts,
            rollups,
            archival,
            arbiters,
            membership,
            heartbeat_task,
            drain_timeout: settings_drain_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then shuts down without losing what was acknowledged,
    /// within `PETTYSYNC_DRAIN_TIMEOUT_S` whatever the stores do: HTTP stops taking
    /// requests; ingest stops taking messages (the broker keeps the rest for the next
    /// start); persistence writes its buffer and acknowledges it; the alert supervisor
    /// stores what it holds (the rest waits in the outbox); the MQTT connection closes after
    /// the acknowledgements. What a store did not take in time is not acknowledged, and the
    /// broker redelivers it.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        tracing::info!("HTTP stopped; draining ingest");
        self.archival.do_send(StopArchival);
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        let _ = self.rollups.send(StopRollups).await;
        self.mqtt.stop_intake();
        let _ = self.pipeline_stop.send(true);
        if tokio::time::timeout_at(deadline, self.pipeline_task)
            .await
            .is_err()
        {
            tracing::error!("ingest did not stop in time");
        }
        match tokio::time::timeout_at(deadline, self.persistence.send(Drain)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("persistence stopped before it drained"),
            Err(_) => tracing::error!(
                "persistence did not drain in time; unwritten samples stay at the broker"
            ),
        }
        if tokio::time::timeout_at(deadline, self.alerts.send(DrainAlerts))
            .await
            .is_err()
        {
            tracing::warn!("alerts not stored in time wait in the outbox for the next start");
        }
        // Out of the cluster now, so its collars move without waiting for the TTL.
        self.heartbeat_task.abort();
        self.membership.leave().await;
        // The acknowledgements of what was stored still go out, however late it is.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.mqtt
            .disconnect(self.mqtt_task, left.max(DISCONNECT_WAIT_MIN))
            .await;
        let _ = self.outbound.client.try_disconnect();
        self.outbound_task.abort();
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        tracing::info!("server stopped");
        Ok(result?)
    }
}

/// A pool for short-lived commands (`provision-collar`) that need only PostgreSQL.
pub async fn pg_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(STORE_WAIT)
        .connect(settings.database_url.expose_secret())
        .await
        .context("connecting to PostgreSQL (PETTYSYNC_DATABASE_URL)")
}
