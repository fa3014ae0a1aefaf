//! What a session still has to send while its client reads slowly: per pet only the newest
//! `state` (coalesced), every alert (never dropped), and a few other frames (moods, errors,
//! pongs). Pure data, no
//! actix, so it is tested on its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::frames::{state_frame, OutFrame};
use crate::actors::events::LiveState;
use crate::actors::scope::ShareView;
use crate::ids::PetId;

/// Alerts a session may hold back for a slow client; one more and the session is closed,
/// because alerts are never dropped while it lives.
pub const MAX_PENDING_ALERTS: usize = 1000;
/// Other frames (moods, errors, pongs) a session may hold back; one more and it is closed.
pub const MAX_PENDING_FRAMES: usize = 1000;

/// What a session holds back while its client's send buffer is full.
#[derive(Debug, Default)]
pub struct Outbox {
    /// How states are shown (`None`: whole); set once, when the session starts.
    view: Option<ShareView>,
    /// Alerts and other frames, in the order they were pushed.
    queue: VecDeque<OutFrame>,
    /// How many of `queue` are alerts.
    alerts: usize,
    /// The newest pending state of each pet.
    states: HashMap<PetId, Arc<LiveState>>,
    /// Pets with a pending state, in the order their first pending state arrived.
    state_order: VecDeque<PetId>,
}

impl Outbox {
    /// An outbox whose states are shown as `view` allows (`None`: whole).
    pub fn new(view: Option<ShareView>) -> Self {
        Self {
            view,
            ..Self::default()
        }
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.states.is_empty()
    }

    /// Holds a pet's state back; a newer state replaces a pending one (newest wins).
    pub fn push_state(&mut self, pet_id: PetId, state: Arc<LiveState>) {
        if self.states.insert(pet_id, state).is_none() {
            self.state_order.push_back(pet_id);
        }
    }

    /// Forgets a pet's pending state (the client unsubscribed).
    pub fn discard_state(&mut self, pet_id: PetId) {
        if self.states.remove(&pet_id).is_some() {
            self.state_order.retain(|pending| *pending != pet_id);
        }
    }

    /// Forgets everything pending about a pet (the viewer lost it): its state, alerts and
    /// moods.
    pub fn discard_pet(&mut self, pet_id: PetId) {
        self.discard_state(pet_id);
        let about = |frame: &OutFrame| frame.about == Some(pet_id);
        let alerts = self
            .queue
            .iter()
            .filter(|frame| about(frame) && frame.kind == "alert")
            .count();
        self.queue.retain(|frame| !about(frame));
        self.alerts -= alerts;
    }

    /// Holds an `alert` frame back. Alerts are never dropped: past [`MAX_PENDING_ALERTS`]
    /// the outbox overflows and the session must close.
    pub fn push_alert(&mut self, frame: OutFrame) {
        self.alerts += 1;
        self.queue.push_back(frame);
    }

    /// Holds another frame (mood, error, pong) back; past [`MAX_PENDING_FRAMES`] the outbox
    /// overflows.
    pub fn push_frame(&mut self, frame: OutFrame) {
        self.queue.push_back(frame);
    }

    /// True when more is pending than a session may hold: the client is too slow.
    pub fn is_overflowing(&self) -> bool {
        self.alerts > MAX_PENDING_ALERTS || self.queue.len() - self.alerts > MAX_PENDING_FRAMES
    }

    /// Frames to write now, about `budget_bytes` of them (at least one when anything is
    /// pending, so a frame larger than the budget still goes): alerts and other frames first,
    /// in order, then the pending states.
    pub fn take_ready(&mut self, budget_bytes: usize) -> Vec<OutFrame> {
        let mut ready = Vec::new();
        let mut taken = 0;
        while taken < budget_bytes || ready.is_empty() {
            let Some(frame) = self.next_frame() else {
                break;
            };
            taken += frame.text.len();
            ready.push(frame);
        }
        ready
    }

    fn next_frame(&mut self) -> Option<OutFrame> {
        if let Some(frame) = self.queue.pop_front() {
            if frame.kind == "alert" {
                self.alerts -= 1;
            }
            return Some(frame);
        }
        let pet_id = self.state_order.pop_front()?;
        let state = self.states.remove(&pet_id)?;
        Some(state_frame(pet_id, &state, self.view.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::actors::events::{Alert, AlertKind, MoodRecorded, MoodState};
    use crate::actors::session::frames::ServerMessage;
    use crate::mood::Mood;

    fn state(steps: u64) -> Arc<LiveState> {
        Arc::new(LiveState {
            online: true,
            last_seen: Some(steps as i64),
            ..LiveState::default()
        })
    }

    fn alert_frame(n: i64) -> OutFrame {
        alert_of(PetId::new(), n)
    }

    fn alert_of(pet_id: PetId, n: i64) -> OutFrame {
        let alert = Alert {
            id: Uuid::new_v4(),
            pet_id,
            kind: AlertKind::BatteryLow,
            at: n,
            details: serde_json::json!({ "pct": 9 }),
            acknowledged_at: None,
        };
        ServerMessage::alert(&alert).frame()
    }

    fn mood_of(pet_id: PetId) -> OutFrame {
        let recorded = MoodRecorded {
            id: Uuid::new_v4(),
            pet_id,
            mood: MoodState {
                mood: Mood::Sad,
                confidence: 0.9,
                at: 1,
            },
        };
        ServerMessage::mood(&recorded).frame()
    }

    fn json(frame: &OutFrame) -> serde_json::Value {
        serde_json::from_str(&frame.text).unwrap()
    }

    #[test]
    fn three_states_for_one_pet_while_blocked_become_one_frame_with_the_newest() {
        let mut outbox = Outbox::default();
        let pet = PetId::new();
        for steps in 1..=3 {
            outbox.push_state(pet, state(steps));
        }
        let ready = outbox.take_ready(usize::MAX);
        assert_eq!(ready.len(), 1);
        let sent = json(&ready[0]);
        assert_eq!(sent["type"], "state");
        assert_eq!(sent["pet_id"], pet.to_string());
        assert_eq!(sent["state"]["last_seen"], 3);
        assert!(outbox.is_empty());
    }

    #[test]
    fn states_of_different_pets_keep_their_first_arrival_order() {
        let mut outbox = Outbox::default();
        let (a, b) = (PetId::new(), PetId::new());
        outbox.push_state(a, state(1));
        outbox.push_state(b, state(2));
        outbox.push_state(a, state(3));
        let order: Vec<_> = outbox.take_ready(usize::MAX).iter().map(json).collect();
        assert_eq!(order[0]["pet_id"], a.to_string());
        assert_eq!(order[0]["state"]["last_seen"], 3);
        assert_eq!(order[1]["pet_id"], b.to_string());
    }

    #[test]
    fn alerts_are_all_kept_in_order_and_go_before_states() {
        let mut outbox = Outbox::default();
        outbox.push_state(PetId::new(), state(1));
        for n in 0..50 {
            outbox.push_alert(alert_frame(n));
        }
        let ready = outbox.take_ready(usize::MAX);
        assert_eq!(ready.len(), 51);
        for (n, frame) in ready.iter().take(50).enumerate() {
            let sent = json(frame);
            assert_eq!(sent["type"], "alert");
            assert_eq!(sent["alert"]["at"], n as i64);
            assert_eq!(sent["alert"]["kind"], "battery_low");
            assert!(sent["alert"].get("acknowledged_at").is_none());
        }
        assert_eq!(ready[50].kind, "state");
    }

    #[test]
    fn the_budget_limits_a_take_but_always_lets_one_frame_through() {
        let mut outbox = Outbox::default();
        for n in 0..10 {
            outbox.push_alert(alert_frame(n));
        }
        assert_eq!(outbox.take_ready(0).len(), 1);
        let one = alert_frame(0).text.len();
        assert_eq!(outbox.take_ready(one * 3).len(), 3);
        assert_eq!(outbox.take_ready(usize::MAX).len(), 6);
    }

    #[test]
    fn an_unsubscribed_pet_loses_its_pending_state() {
        let mut outbox = Outbox::default();
        let pet = PetId::new();
        outbox.push_state(pet, state(1));
        outbox.discard_state(pet);
        assert!(outbox.is_empty());
        assert!(outbox.take_ready(usize::MAX).is_empty());
    }

    #[test]
    fn a_lost_pet_loses_its_pending_state_and_alerts_and_no_other_pets() {
        let mut outbox = Outbox::default();
        let (lost, kept) = (PetId::new(), PetId::new());
        outbox.push_state(lost, state(1));
        outbox.push_state(kept, state(2));
        outbox.push_alert(alert_of(lost, 1));
        outbox.push_frame(mood_of(lost));
        outbox.push_alert(alert_of(kept, 2));
        outbox.push_frame(ServerMessage::Pong.frame());
        outbox.discard_pet(lost);
        assert_eq!(
            outbox.alerts, 1,
            "the lost pet's alert is no longer counted"
        );
        let left: Vec<_> = outbox.take_ready(usize::MAX).iter().map(json).collect();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(
            left.iter().all(|m| m["pet_id"] != lost.to_string()),
            "{left:?}"
        );
        assert!(!outbox.is_overflowing());
        assert!(outbox.is_empty());
    }

    #[test]
    fn too_many_alerts_or_frames_overflow() {
        let mut outbox = Outbox::default();
        for n in 0..MAX_PENDING_ALERTS {
            outbox.push_alert(alert_frame(n as i64));
        }
        assert!(!outbox.is_overflowing());
        outbox.push_alert(alert_frame(0));
        assert!(outbox.is_overflowing());

        let mut outbox = Outbox::default();
        for _ in 0..=MAX_PENDING_FRAMES {
            outbox.push_frame(ServerMessage::Pong.frame());
        }
        assert!(outbox.is_overflowing());
        outbox.take_ready(0);
        assert!(!outbox.is_overflowing());
    }
}
