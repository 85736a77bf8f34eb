//! The state every request handler shares.

use std::sync::Arc;

use crate::alerts::AlertSettings;
use crate::config::Settings;
use crate::domain::time::Clock;
use crate::storage::Store;

/// Shared by all workers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    /// Held by every clone; background threads stop once the last clone is gone.
    pub lifetime: Arc<()>,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// What the cap alerts need to know, to move into a write closure.
    pub fn alert_settings(&self) -> AlertSettings {
        AlertSettings {
            default_cap: self.settings.default_environment_cap,
            settings_url: self.settings.settings_url(),
        }
    }
}
