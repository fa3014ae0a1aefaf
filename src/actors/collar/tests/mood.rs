//! A classified clip's mood in the collar actor's live state.

use super::*;
use crate::actors::events::MoodState;
use crate::mood::Mood;

fn mood(mood: Mood, at: i64) -> MoodState {
    MoodState {
        mood,
        confidence: 0.8,
        at,
    }
}

#[actix::test]
async fn a_mood_enters_the_live_state_and_its_snapshot() {
    let recorder = Recorder::default().start();
    let pet = PetId::new();
    let collar = collar_on(&recorder, setup(pet, 300));
    let anxious = mood(Mood::Anxious, now_ms());
    collar
        .send(SetMood {
            pet_id: pet,
            mood: anxious.clone(),
        })
        .await
        .unwrap();
    let state = collar.send(GetState).await.unwrap();
    assert_eq!(state.mood.as_ref(), Some(&anxious));
    let written = recorder
        .send(LastSnapshot)
        .await
        .unwrap()
        .expect("a mood is snapshotted");
    assert_eq!(written.state.mood, Some(anxious));
}

#[actix::test]
async fn a_mood_of_another_pet_or_of_an_older_clip_changes_nothing() {
    let recorder = Recorder::default().start();
    let pet = PetId::new();
    let collar = collar_on(&recorder, setup(pet, 300));
    let newest = mood(Mood::Happy, now_ms());
    let set = |pet_id, mood| SetMood { pet_id, mood };
    collar.send(set(pet, newest.clone())).await.unwrap();
    collar
        .send(set(PetId::new(), mood(Mood::Sad, now_ms() + 1)))
        .await
        .unwrap();
    collar
        .send(set(pet, mood(Mood::Angry, newest.at - 1)))
        .await
        .unwrap();
    let state = collar.send(GetState).await.unwrap();
    assert_eq!(state.mood, Some(newest));
}
