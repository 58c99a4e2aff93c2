//! Delivery states.
pub const PENDING: &str = "pending";
pub const RETRYING: &str = "retrying";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
pub const PRUNED: &str = "pruned";
pub const EXPIRED: &str = "expired";
