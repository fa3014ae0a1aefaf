//! Finding collars' actors, starting the ones not running from their setup and snapshot:
//! one serial (`Resolve`) or a batch (`ResolveMany`), loaded in one round of three
//! PostgreSQL queries and one Redis `MGET` whatever the batch's size, so a restart in front
//! of thousands of collars starts them batch by batch rather than one after another.

use actix::prelude::*;

use super::snapshot::read_snapshots;
use super::CollarRegistry;
use crate::actors::collar::CollarActor;
use crate::store::collars;

/// Most serials in one [`ResolveMany`].
pub const LOOKUP_BATCH: usize = 256;

/// What a lookup of one serial found: its actor, `None` when the serial was never
/// provisioned, or an error (the collar is another node's, or a store could not say).
pub type Resolved = Result<Option<Addr<CollarActor>>, anyhow::Error>;

/// Find the collar's actor, starting it (from its setup and snapshot) when needed.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<CollarActor>>, anyhow::Error>")]
pub struct Resolve {
    /// The serial from the topic; `Ok(None)` when it was never provisioned.
    pub serial: String,
}

/// Find the actors of up to [`LOOKUP_BATCH`] collars at once; the answer has one entry per
/// serial asked, in no particular order.
#[derive(Message)]
#[rtype(result = "Vec<(String, Resolved)>")]
pub struct ResolveMany {
    pub serials: Vec<String>,
}

impl Handler<Resolve> for CollarRegistry {
    type Result = ResponseActFuture<Self, Resolved>;

    fn handle(&mut self, msg: Resolve, _: &mut Context<Self>) -> Self::Result {
        let serial = msg.serial;
        Box::pin(
            self.resolve(vec![serial])
                .map(|mut answers, _, _| answers.pop().map_or(Ok(None), |(_, resolved)| resolved)),
        )
    }
}

impl Handler<ResolveMany> for CollarRegistry {
    type Result = ResponseActFuture<Self, Vec<(String, Resolved)>>;

    fn handle(&mut self, msg: ResolveMany, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.resolve(msg.serials))
    }
}

impl CollarRegistry {
    /// Answers from what runs here; loads the rest together and starts their actors.
    fn resolve(
        &mut self,
        serials: Vec<String>,
    ) -> impl ActorFuture<Self, Output = Vec<(String, Resolved)>> + 'static {
        let mut answers = Vec::with_capacity(serials.len());
        let mut to_load = Vec::new();
        for serial in serials {
            if let Err(not_owner) = self.check_owner(&serial) {
                answers.push((serial, Err(not_owner.into())));
            } else if let Some(addr) = self.running(&serial) {
                answers.push((serial, Ok(Some(addr))));
            } else {
                to_load.push(serial);
            }
        }
        let (pg, redis) = (self.pg.clone(), self.redis.clone());
        let load = async move {
            if to_load.is_empty() {
                return (to_load, Ok(Vec::new()));
            }
            let loaded = async {
                let mut setups = collars::load_setups(&pg, &to_load).await?;
                let found: Vec<String> = to_load
                    .iter()
                    .filter(|serial| setups.contains_key(*serial))
                    .cloned()
                    .collect();
                let snapshots = read_snapshots(&redis, &found).await;
                let pairs: Vec<_> = found
                    .into_iter()
                    .filter_map(|serial| setups.remove(&serial))
                    .collect();
                anyhow::Ok((pairs, snapshots))
            };
            let loaded = loaded.await.map(|(setups, snapshots)| {
                let snapshots = match snapshots {
                    Ok(found) => found.into_iter().map(Ok).collect(),
                    Err(error) => {
                        let each = format!("{error:#}");
                        setups
                            .iter()
                            .map(|_| Err(anyhow::anyhow!(each.clone())))
                            .collect::<Vec<_>>()
                    }
                };
                setups.into_iter().zip(snapshots).collect::<Vec<_>>()
            });
            (to_load, loaded)
        };
        crate::rt::guarded(load)
            .into_actor(self)
            .map(move |(to_load, loaded), registry, _| {
                let loaded = match loaded {
                    Ok(loaded) => loaded,
                    Err(error) => {
                        let each = format!("{error:#}");
                        answers.extend(
                            to_load
                                .into_iter()
                                .map(|serial| (serial, Err(anyhow::anyhow!(each.clone())))),
                        );
                        return answers;
                    }
                };
                let mut unknown: std::collections::HashSet<String> = to_load.into_iter().collect();
                for (setup, snapshot) in loaded {
                    let serial = setup.serial.clone();
                    unknown.remove(&serial);
                    answers.push((serial, registry.start_loaded(setup, snapshot)));
                }
                answers.extend(unknown.into_iter().map(|serial| (serial, Ok(None))));
                answers
            })
    }

    /// Starts a loaded collar's actor, unless the collar moved to another node while it was
    /// loading or its snapshot could not be read (then the lookup is tried again).
    fn start_loaded(
        &mut self,
        setup: collars::CollarSetup,
        snapshot: anyhow::Result<Option<crate::actors::collar::Snapshot>>,
    ) -> Resolved {
        self.check_owner(&setup.serial)?;
        let snapshot = self.snapshot_or_wait(&setup.serial, snapshot)?;
        // Starting happens here, on the registry's thread, so two loads of one serial still
        // end with one actor.
        Ok(self.start_actor(setup, snapshot))
    }
}
