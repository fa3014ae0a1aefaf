//! `CollarRegistry`: finds or starts the actor of a collar, spreads collar actors over one
//! arbiter per core (by a hash of the serial, so one collar's messages stay in order on one
//! thread), and answers for collars whose actor is not running (live state from the
//! snapshot, live-mode commands). `mood` hands a classified clip's mood to its pet's actor;
//! `owners` keeps actors only for the collars this node owns in a cluster.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use sqlx::PgPool;

use super::collar::{
    exact_fences, index_fences, CollarActor, CollarOutputs, FencesIndexed, GetState,
    LiveModeChanged, SetupChanged, Snapshot, LIVE_INTERVAL_S,
};
use super::events::{GetPetState, LiveState, SetLiveMode};
use crate::actors::commands::{CollarCommand, Commands};
use crate::cache::Redis;
use crate::cluster::Membership;
use crate::fence_index::IndexedFence;
use crate::ids::PetId;
use crate::store::collars::{self, CollarSetup};

mod changes;
mod mood;
mod owners;
mod resolve;
mod snapshot;

pub use self::changes::{CollarChanged, IntervalSet};
pub use self::owners::{ListActors, NotOwner, RunningActors};
pub use self::resolve::{Resolve, ResolveMany, Resolved, LOOKUP_BATCH};
pub use self::snapshot::{read_snapshot, read_snapshots, SNAPSHOT_WAIT};

/// A pet's setup is reloaded this long after the first change of a burst (say, fences
/// created one after another), once for the whole burst.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);
/// Fences tiled at once, each on a blocking thread, for actors that started without their
/// index: one, so a restart's indexing leaves the other cores to ingest (the actors place
/// fixes exactly meanwhile). At most one indexing waits per started actor.
const INDEXING_AT_ONCE: usize = 1;

pub struct CollarRegistry {
    pg: PgPool,
    redis: Redis,
    arbiters: Vec<ArbiterHandle>,
    collars: HashMap<String, Addr<CollarActor>>,
    by_pet: HashMap<PetId, String>,
    live_pets: HashSet<PetId>,
    /// Pets whose setup reload is scheduled.
    reloading: HashSet<PetId>,
    outputs: CollarOutputs,
    commands: Commands,
    /// Since when snapshots could not be read (see [`SNAPSHOT_WAIT`]).
    snapshots_failing_since: Option<Instant>,
    /// The live-node set: which collars are this node's to run.
    membership: Membership,
    /// Turns at tiling the fences of started actors ([`INDEXING_AT_ONCE`]).
    indexing: Arc<tokio::sync::Semaphore>,
}

impl CollarRegistry {
    /// `arbiters` are the threads collar actors run on; `outputs` are completed with the
    /// registry's own address when it starts.
    pub fn new(
        pg: PgPool,
        redis: Redis,
        arbiters: Vec<ArbiterHandle>,
        commands: Commands,
        membership: Membership,
        outputs: impl FnOnce(Addr<CollarRegistry>) -> CollarOutputs + 'static,
    ) -> Addr<Self> {
        let outputs_fn = outputs;
        CollarRegistry::create(move |ctx| CollarRegistry {
            pg,
            redis,
            arbiters,
            collars: HashMap::new(),
            by_pet: HashMap::new(),
            live_pets: HashSet::new(),
            reloading: HashSet::new(),
            outputs: outputs_fn(ctx.address()),
            commands,
            snapshots_failing_since: None,
            membership,
            indexing: Arc::new(tokio::sync::Semaphore::new(INDEXING_AT_ONCE)),
        })
    }

    fn arbiter_for(&self, serial: &str) -> Option<&ArbiterHandle> {
        let mut hasher = DefaultHasher::new();
        serial.hash(&mut hasher);
        let n = self.arbiters.len().max(1) as u64;
        self.arbiters.get((hasher.finish() % n) as usize)
    }

    fn running(&self, serial: &str) -> Option<Addr<CollarActor>> {
        self.collars
            .get(serial)
            .filter(|addr| addr.connected())
            .cloned()
    }

    /// Starts the collar's actor with its fences unindexed, then has them indexed.
    fn start_actor(
        &mut self,
        setup: CollarSetup,
        snapshot: Option<Snapshot>,
    ) -> Option<Addr<CollarActor>> {
        let serial = setup.serial.clone();
        if let Some(addr) = self.running(&serial) {
            return Some(addr);
        }
        let fences = exact_fences(&setup);
        let indexing = (!fences.is_empty()).then(|| (setup.clone(), fences.clone()));
        let outputs = self.outputs.clone();
        let live = setup
            .pet_id
            .is_some_and(|pet| self.live_pets.contains(&pet));
        if let Some(pet) = setup.pet_id {
            self.by_pet.insert(pet, serial.clone());
        }
        let arbiter = self.arbiter_for(&serial)?.clone();
        let addr = CollarActor::start_in_arbiter(&arbiter, move |_| {
            CollarActor::new(setup, fences, snapshot, live, outputs)
        });
        self.collars.insert(serial, addr.clone());
        self.count_actors();
        if let Some((setup, replaces)) = indexing {
            let (turns, actor) = (self.indexing.clone(), addr.clone());
            actix::spawn(crate::rt::guarded(async move {
                let Ok(_turn) = turns.acquire_owned().await else {
                    return;
                };
                if let Ok((_, fences)) = index_off_thread(setup).await {
                    actor.do_send(FencesIndexed { replaces, fences });
                }
            }));
        }
        Some(addr)
    }
}

impl Actor for CollarRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.watch_membership(ctx);
    }
}

/// Indexes a setup's fences on a blocking thread.
async fn index_off_thread(
    setup: CollarSetup,
) -> anyhow::Result<(CollarSetup, Arc<[IndexedFence]>)> {
    Ok(tokio::task::spawn_blocking(move || {
        let fences = index_fences(&setup);
        (setup, fences)
    })
    .await?)
}

/// A collar actor stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deregister {
    /// Its serial.
    pub serial: String,
    /// Its address, so a newer actor of the same serial is not forgotten by mistake.
    pub addr: Addr<CollarActor>,
}

impl Handler<Deregister> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: Deregister, _: &mut Context<Self>) {
        if self.collars.get(&msg.serial) == Some(&msg.addr) {
            self.collars.remove(&msg.serial);
            self.by_pet.retain(|_, serial| *serial != msg.serial);
        }
        self.count_actors();
    }
}

/// A pet's collar, fences or heart-rate band changed in PostgreSQL (HTTP → registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PetChanged {
    /// The pet whose running collar actor must reload its setup.
    pub pet_id: PetId,
}

impl Handler<PetChanged> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: PetChanged, ctx: &mut Context<Self>) {
        if self.reloading.insert(msg.pet_id) {
            ctx.run_later(RELOAD_DEBOUNCE, move |registry, ctx| {
                registry.reloading.remove(&msg.pet_id);
                ctx.spawn(registry.reload(msg.pet_id));
            });
        }
    }
}

impl CollarRegistry {
    /// Reloads the pet's collar setup and hands it to the running actor; resolves once the
    /// actor has it in its mailbox (ahead of any collar message that comes after).
    fn reload(&mut self, pet_id: PetId) -> impl ActorFuture<Self, Output = ()> {
        let (pg, membership) = (self.pg.clone(), self.membership.clone());
        let serial = self.by_pet.get(&pet_id).cloned();
        let reload = async move {
            // The collar may have been paired since: look it up afresh.
            let serial = match serial {
                Some(serial) => Some(serial),
                None => collars::serial_of_pet(&pg, pet_id).await.ok().flatten(),
            }?;
            // Every node hears of the change; only the owner runs (and reloads) the actor.
            if !membership.current().owns(&serial) {
                return None;
            }
            let setup = collars::load_setup(&pg, &serial).await.ok().flatten()?;
            index_off_thread(setup).await.ok()
        };
        crate::rt::guarded(reload)
            .into_actor(self)
            .map(move |loaded, registry, _| {
                let Some((setup, fences)) = loaded else {
                    return;
                };
                // An unpaired collar's old pet must no longer point at it.
                registry.by_pet.retain(|_, serial| *serial != setup.serial);
                if let Some(pet) = setup.pet_id {
                    registry.by_pet.insert(pet, setup.serial.clone());
                }
                if let Some(addr) = registry.running(&setup.serial) {
                    addr.do_send(SetupChanged { setup, fences });
                }
            })
    }
}

/// A collar was paired to the pet or unpaired from it (HTTP → registry): unlike other
/// changes, applied before the answer, so every collar message read after the pairing's
/// answer is the new pet's.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PairingChanged {
    /// The pet the collar was paired to or unpaired from.
    pub pet_id: PetId,
}

impl Handler<PairingChanged> for CollarRegistry {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: PairingChanged, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.reload(msg.pet_id))
    }
}

impl Handler<GetPetState> for CollarRegistry {
    type Result = ResponseFuture<LiveState>;

    fn handle(&mut self, msg: GetPetState, _: &mut Context<Self>) -> Self::Result {
        let running = self
            .by_pet
            .get(&msg.pet_id)
            .and_then(|serial| self.running(serial));
        let (pg, redis) = (self.pg.clone(), self.redis.clone());
        let live = self.live_pets.contains(&msg.pet_id);
        Box::pin(crate::rt::guarded(async move {
            if let Some(addr) = running {
                if let Ok(state) = addr.send(GetState).await {
                    return state;
                }
            }
            let serial = collars::serial_of_pet(&pg, msg.pet_id).await.ok().flatten();
            let snapshot = match serial {
                Some(serial) => read_snapshot(&redis, &serial).await.ok().flatten(),
                None => None,
            };
            // A snapshot of the pet the collar was on before is not this pet's state.
            let mut state = snapshot
                .filter(|s| s.pet_id == Some(msg.pet_id))
                .map(|s| s.state)
                .unwrap_or_default();
            state.live = live;
            state
        }))
    }
}

impl Handler<SetLiveMode> for CollarRegistry {
    type Result = ();

    fn handle(&mut self, msg: SetLiveMode, ctx: &mut Context<Self>) {
        if msg.live {
            self.live_pets.insert(msg.pet_id);
        } else {
            self.live_pets.remove(&msg.pet_id);
        }
        if let Some(addr) = self
            .by_pet
            .get(&msg.pet_id)
            .and_then(|serial| self.running(serial))
        {
            addr.do_send(LiveModeChanged { live: msg.live });
        }
        // Every node hears of live mode (the bus tells each registry), but only the collar's
        // owner sends the command, so a collar gets it once.
        let (pg, commands, membership) = (
            self.pg.clone(),
            self.commands.clone(),
            self.membership.clone(),
        );
        let switch = async move {
            let setup = match collars::serial_of_pet(&pg, msg.pet_id).await {
                Ok(Some(serial)) if !membership.current().owns(&serial) => None,
                Ok(Some(serial)) => collars::load_setup(&pg, &serial).await.ok().flatten(),
                _ => None,
            };
            let Some(setup) = setup else { return };
            let interval_s = if msg.live {
                LIVE_INTERVAL_S
            } else {
                setup.interval_s.max(2) as u32
            };
            let command = CollarCommand::SetInterval { interval_s };
            if let Err(error) = commands
                .send(&setup.serial, setup.pet_id, None, command)
                .await
            {
                tracing::warn!(collar = %setup.serial, error = ?error, "could not switch live mode");
            }
        };
        ctx.spawn(crate::rt::guarded(switch).into_actor(self));
    }
}
