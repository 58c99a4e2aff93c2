//! Authentication: passwords, access tokens (JWT), refresh tokens and the extractors that guard routes.

pub mod extract;
pub mod jwt;
pub mod password;
pub mod refresh;

pub use extract::{Account, AccountCache, AdminUser, AuthUser};
pub use jwt::JwtKeys;
