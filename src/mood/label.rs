//! The five moods, with their wire names (`calm`, `happy`, `anxious`, `angry`, `sad`).

use serde::{Deserialize, Serialize};

/// A pet's mood as the classifier and the API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mood {
    Calm,
    Happy,
    Anxious,
    Angry,
    Sad,
}

impl Mood {
    /// Every mood, in the order of a model's class index.
    pub const ALL: [Mood; 5] = [
        Mood::Calm,
        Mood::Happy,
        Mood::Anxious,
        Mood::Angry,
        Mood::Sad,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mood::Calm => "calm",
            Mood::Happy => "happy",
            Mood::Anxious => "anxious",
            Mood::Angry => "angry",
            Mood::Sad => "sad",
        }
    }

    /// The mood of a wire name; `None` for anything else (the API answers 422).
    pub fn parse(name: &str) -> Option<Mood> {
        Mood::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The class index of this mood (its place in `ALL`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Distressed moods may raise a `mood_distress` alert.
    pub fn is_distress(self) -> bool {
        matches!(self, Mood::Anxious | Mood::Angry | Mood::Sad)
    }
}

impl std::fmt::Display for Mood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mood_parses_from_its_own_name_and_nothing_else_does() {
        for mood in Mood::ALL {
            assert_eq!(Mood::parse(mood.as_str()), Some(mood));
            assert_eq!(Mood::ALL[mood.index()], mood);
        }
        assert_eq!(Mood::parse("grumpy"), None);
        assert_eq!(Mood::parse("Calm"), None);
    }
}
