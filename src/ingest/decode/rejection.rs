//! Why a message or a sample was not accepted: one [`Reason`] per rule of the collar
//! protocol, and a detail that names the field and the rule it broke.

/// Why a message or sample was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    /// The rule that was broken, naming the field; never echoes the collar's input.
    pub detail: String,
    /// Index in a batch, when the rejection is of one element.
    pub index: Option<usize>,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            index: None,
        }
    }

    /// The same rejection, of the batch element at `index`.
    pub fn at(self, index: usize) -> Self {
        Self {
            index: Some(index),
            ..self
        }
    }
}

/// The kind of a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    BadTopic,
    TooLarge,
    MalformedJson,
    NotAnObject,
    UnsupportedVersion,
    MissingField,
    WrongType,
    OutOfRange,
    TimestampOutOfWindow,
    BatchSize,
    PositionIncomplete,
    BadAudio,
    /// Valid, but a store kept failing for the side stores' limit (kept whole, for replay).
    StoreFailed,
}

impl Reason {
    /// Every reason, so metrics can be registered before the first rejection.
    pub const ALL: [Reason; 13] = [
        Reason::BadTopic,
        Reason::TooLarge,
        Reason::MalformedJson,
        Reason::NotAnObject,
        Reason::UnsupportedVersion,
        Reason::MissingField,
        Reason::WrongType,
        Reason::OutOfRange,
        Reason::TimestampOutOfWindow,
        Reason::BatchSize,
        Reason::PositionIncomplete,
        Reason::BadAudio,
        Reason::StoreFailed,
    ];

    /// Stable snake_case label for metrics and the dead-letter store.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::BadTopic => "bad_topic",
            Reason::TooLarge => "too_large",
            Reason::MalformedJson => "malformed_json",
            Reason::NotAnObject => "not_an_object",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::OutOfRange => "out_of_range",
            Reason::TimestampOutOfWindow => "timestamp_out_of_window",
            Reason::BatchSize => "batch_size",
            Reason::PositionIncomplete => "position_incomplete",
            Reason::BadAudio => "bad_audio",
            Reason::StoreFailed => "store_failed",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- whole messages ----
