//! Domain values that are valid by construction: slugs, ids, money and time.

pub mod ids;
pub mod money;
pub mod period;
pub mod slug;
pub mod time;
