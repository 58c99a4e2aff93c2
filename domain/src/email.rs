//! What milkflow emails, and where a queued email stands; stored by their snake_case names.

stored_name!(
    /// Which email: each has its templates (`mail/templates/<name>.*`).
    EmailTemplate {
        /// A new address: the link and the code that confirm it.
        VerifyEmail = "verify_email",
        /// A registration for an address that already has an account.
        SignupAttempt = "signup_attempt",
        /// The link that sets a new password.
        PasswordReset = "password_reset",
        /// The account's password was changed (by a reset or in the app).
        PasswordChanged = "password_changed",
        /// To the account's address: a change to another address was asked for.
        EmailChangeRequested = "email_change_requested",
        /// To a new address: the link and the code that confirm it before it replaces the account's.
        ConfirmNewEmail = "confirm_new_email",
    }
);

stored_name!(
    /// Where a queued email stands.
    EmailStatus {
        /// Waiting for its first attempt.
        Pending = "pending",
        /// Refused for now (a 4xx reply, a server out of reach); tried again later.
        Retrying = "retrying",
        /// Accepted by the SMTP server (or written to the mail directory).
        Sent = "sent",
        /// Refused for good (a 5xx reply) or out of attempts.
        Failed = "failed",
    }
);

stored_name!(
    /// What a single-use secret sent by email is for.
    TokenPurpose {
        /// Confirms the account's address.
        VerifyEmail = "verify_email",
        /// Sets a new password.
        PasswordReset = "password_reset",
        /// Confirms a new address before it replaces the account's.
        ChangeEmail = "change_email",
    }
);
