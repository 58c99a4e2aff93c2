//! milkflow's email: each message rendered from its templates (`mail/templates/`), then sent over SMTP or, with
//! no SMTP configured, written as an `.eml` file for a developer to open.

mod templates;
mod transport;

pub use templates::{Email, RenderError, Template};
pub use transport::{Mailer, SendError};
