//! The state every request handler shares.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::time::Clock;
use crate::storage::Store;

/// Shared by all workers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
