//! What the settings allow one user, link and session on the live socket.

use crate::actors::hub::SessionCaps;
use crate::actors::session::SessionLimits;
use crate::config::Settings;

/// The caps on open live sessions, from the settings.
pub(super) fn session_caps(settings: &Settings) -> SessionCaps {
    SessionCaps {
        per_user: settings.ws_max_sessions_per_user,
        per_link: settings.ws_max_sessions_per_link,
    }
}

/// What one live session may ask for, from the settings.
pub(super) fn session_limits(settings: &Settings) -> SessionLimits {
    SessionLimits {
        subscribes_per_minute: settings.ws_subscribes_per_minute,
        subscribe_burst: settings.ws_subscribe_burst,
        max_watched_pets: settings.ws_max_watched_pets,
    }
}
