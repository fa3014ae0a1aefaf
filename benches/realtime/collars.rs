//! The bench's collars: each one's pet, topic and random walk inside its fence, the samples
//! it publishes, and how collars are dealt out over the publishers and gathered back.

use std::time::Duration;

use anyhow::bail;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, QoS};

use crate::mqtt::PUBLISHERS;
use crate::units::now_ms;

const WALK_RADIUS_M: f64 = 150.0;
const METRES_PER_DEGREE: f64 = 111_195.0;
/// How long a phase waits for its publisher tasks to hand their collars back.
pub(crate) const JOIN_WAIT: Duration = Duration::from_secs(15);

/// One bench collar: its pet and where it walks, and the state that makes samples valid.
#[derive(Debug, Clone)]
pub(crate) struct Collar {
    /// Index of the pet (and of the collar): the key that matches frames to samples.
    pub(crate) idx: u32,
    pub(crate) serial: String,
    pub(crate) pet_id: String,
    pub(crate) topic: String,
    home: (f64, f64),
    offset_m: (f64, f64),
    pub(crate) seq: u64,
    last_ts: i64,
}

impl Collar {
    pub(crate) fn new(
        idx: u32,
        serial: &str,
        pet_id: String,
        prefix: &str,
        home: (f64, f64),
    ) -> Self {
        Collar {
            idx,
            serial: serial.to_owned(),
            pet_id,
            topic: format!("{prefix}/collars/{serial}/telemetry"),
            home,
            offset_m: (0.0, 0.0),
            seq: 0,
            last_ts: 0,
        }
    }

    /// The next sample: seq one up, `ts` now and later than every earlier one (so unique per
    /// collar), a few metres of random walk that stays well inside the fence.
    pub(crate) fn next_sample(&mut self, rng: &mut StdRng) -> (i64, Vec<u8>) {
        self.seq += 1;
        self.last_ts = now_ms().max(self.last_ts + 1);
        let (mut east, mut north) = self.offset_m;
        east += rng.gen_range(-3.0..3.0);
        north += rng.gen_range(-3.0..3.0);
        let distance = east.hypot(north);
        if distance > WALK_RADIUS_M {
            let back = 0.9 * WALK_RADIUS_M / distance;
            east *= back;
            north *= back;
        }
        self.offset_m = (east, north);
        let lat = self.home.0 + north / METRES_PER_DEGREE;
        let lon = self.home.1 + east / (METRES_PER_DEGREE * self.home.0.to_radians().cos());
        let hr: u32 = rng.gen_range(80..120);
        let steps: u32 = rng.gen_range(0..40);
        let payload = format!(
            r#"{{"v":1,"seq":{},"ts":{},"lat":{lat:.6},"lon":{lon:.6},"acc":6.5,"hr":{hr},"steps":{steps},"act":"walk","bat":83,"temp":38.6}}"#,
            self.seq, self.last_ts
        );
        (self.last_ts, payload.into_bytes())
    }
}

/// Centre of pet `i`'s fence: a grid over Paris, 2 km apart.
pub(crate) fn home_of(i: usize) -> (f64, f64) {
    (
        48.70 + (i / 100) as f64 * 0.02,
        2.20 + (i % 100) as f64 * 0.02,
    )
}

/// Collars dealt out over the publishers (one collar always on one connection, so its
/// samples reach the broker in order).
pub(crate) fn deal(collars: Vec<Collar>) -> Vec<Vec<Collar>> {
    let mut hands: Vec<Vec<Collar>> = (0..PUBLISHERS).map(|_| Vec::new()).collect();
    for (i, collar) in collars.into_iter().enumerate() {
        hands[i % PUBLISHERS].push(collar);
    }
    hands
}

pub(crate) fn gather(hands: Vec<Vec<Collar>>) -> Vec<Collar> {
    let mut collars: Vec<Collar> = hands.into_iter().flatten().collect();
    collars.sort_by_key(|c| c.idx);
    collars
}

/// Publishes `count` samples round-robin over `hand`, as fast as the client takes them.
pub(crate) async fn burst(
    client: AsyncClient,
    mut hand: Vec<Collar>,
    count: usize,
    seed: u64,
) -> anyhow::Result<Vec<Collar>> {
    let mut rng = StdRng::seed_from_u64(seed);
    if hand.is_empty() {
        return Ok(hand);
    }
    let len = hand.len();
    for k in 0..count {
        let collar = &mut hand[k % len];
        let (_, payload) = collar.next_sample(&mut rng);
        client
            .publish(collar.topic.clone(), QoS::AtLeastOnce, false, payload)
            .await?;
    }
    Ok(hand)
}

/// Waits for publisher tasks to hand their collars back.
pub(crate) async fn join_hands(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Collar>>>>,
) -> anyhow::Result<Vec<Collar>> {
    let mut hands = Vec::with_capacity(tasks.len());
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout(JOIN_WAIT, task).await {
            Ok(Ok(Ok(hand))) => hands.push(hand),
            Ok(Ok(Err(error))) => return Err(error.context("a publisher failed")),
            Ok(Err(error)) => bail!("a publisher task failed: {error}"),
            Err(_) => {
                abort.abort();
                bail!("a publisher was still blocked {JOIN_WAIT:?} after its phase ended");
            }
        }
    }
    Ok(gather(hands))
}
