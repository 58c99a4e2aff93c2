//! The emails milkflow sends, each from three files: `<name>.subject.txt`, `<name>.txt` and `<name>.html`.

pub use domain::email::EmailTemplate as Template;
use minijinja::{Environment, UndefinedBehavior};
use std::sync::LazyLock;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template that could not be rendered with the values given (a value missing, say).
#[derive(Debug, thiserror::Error)]
#[error("email template {template}: {source}")]
pub struct RenderError {
    template: String,
    source: minijinja::Error,
}

macro_rules! files {
    ($($name:literal),* $(,)?) => {
        [$(
            (concat!($name, ".subject.txt"), include_str!(concat!("../templates/", $name, ".subject.txt"))),
            (concat!($name, ".txt"), include_str!(concat!("../templates/", $name, ".txt"))),
            (concat!($name, ".html"), include_str!(concat!("../templates/", $name, ".html"))),
        )*]
    };
}

/// Every template, compiled once; a value a template names but is not given is an error, not an empty string.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // One entry per `Template` (the test `every_template_renders_with_its_values` fails on a missing one).
    for (name, source) in files![
        "verify_email",
        "signup_attempt",
        "password_reset",
        "password_changed",
        "email_change_requested",
        "confirm_new_email",
    ] {
        env.add_template(name, source).expect("the email templates compile (checked by the tests)");
    }
    env
});

impl Email {
    /// `template` rendered for `to` with `values` (a JSON object); HTML values are escaped.
    pub fn render(template: Template, to: &str, values: &serde_json::Value) -> Result<Self, RenderError> {
        let render = |file: String| {
            TEMPLATES
                .get_template(&file)
                .and_then(|t| t.render(minijinja::value::Serde(values)))
                .map_err(|source| RenderError { template: file.clone(), source })
        };
        let stem = template.as_str();
        Ok(Email {
            to: to.to_owned(),
            subject: render(format!("{stem}.subject.txt"))?.trim().to_owned(),
            text: render(format!("{stem}.txt"))?,
            html: render(format!("{stem}.html"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(template: Template) -> serde_json::Value {
        match template {
            Template::VerifyEmail => {
                json!({"link": "https://app.example/verify?token=t<&>", "code": "042917", "valid_hours": 48})
            }
            Template::SignupAttempt => json!({"reset_link": "https://app.example/reset"}),
            Template::PasswordReset => json!({"link": "https://app.example/reset?token=t", "valid_minutes": 30}),
            Template::PasswordChanged => {
                json!({"changed_at": "2026-12-05 10:00", "reset_link": "https://app.example/reset"})
            }
            Template::EmailChangeRequested => {
                json!({"new_email": "new@example.org", "reset_link": "https://app.example/reset"})
            }
            Template::ConfirmNewEmail => {
                json!({"link": "https://app.example/verify?token=t", "code": "042917", "valid_hours": 48})
            }
        }
    }

    #[test]
    fn every_template_renders_with_its_values() {
        for &template in Template::ALL {
            let email = Email::render(template, "a@example.org", &values(template)).unwrap();
            assert!(!email.subject.is_empty() && !email.subject.contains('\n'), "{template:?}: {}", email.subject);
            assert!(email.html.starts_with("<!doctype html>"), "{template:?}");
            assert_eq!(Template::parse(template.as_str()), Some(template));
        }
    }

    #[test]
    fn a_missing_value_is_an_error_and_html_is_escaped() {
        let err = Email::render(Template::VerifyEmail, "a@example.org", &json!({"link": "x"})).unwrap_err();
        assert!(err.to_string().contains("verify_email"), "{err}");
        let email = Email::render(Template::VerifyEmail, "a@example.org", &values(Template::VerifyEmail)).unwrap();
        assert!(email.html.contains("token=t&lt;&amp;&gt;"), "{}", email.html);
        assert!(email.text.contains("token=t<&>") && email.text.contains("042917"), "{}", email.text);
    }
}
