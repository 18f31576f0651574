//! E-mail templates: built-in subject and plain-text body per [`TemplateType`], overridable file by
//! file from `courier.template_override_path` (`<type>.subject.txt`, `<type>.body.txt`, and an
//! optional `<type>.body.html`). Everything is read and compiled once at start, so a broken
//! override fails the boot instead of the first recovery e-mail.

use std::path::Path;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

/// What a message is for — Kratos's template type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateType {
    /// A recovery code for an existing account; model `{code, expires_in_minutes, identity}`.
    RecoveryCodeValid,
    /// Recovery was requested for an address with no account (no enumeration: the requester
    /// sees the same screen either way); model `{}`.
    RecoveryCodeInvalid,
    /// A verification code; model `{code, verification_url, expires_in_minutes}`.
    VerificationCodeValid,
    /// Verification was requested for an address no identity has; model `{}`.
    VerificationCodeInvalid,
    /// A one-time login code; model `{code, expires_in_minutes, identity}`.
    LoginCodeValid,
    /// Sent to an address that an account's settings replaced (the old address is told, and
    /// stays the recovery address until the new one is verified); model `{new_addresses}`.
    AddressChanged,
    /// Too many wrong second-factor codes locked the account's second factor; model
    /// `{locked_minutes, identity}`.
    SecondFactorLocked,
}

impl TemplateType {
    pub const ALL: [TemplateType; 7] = [
        TemplateType::RecoveryCodeValid,
        TemplateType::RecoveryCodeInvalid,
        TemplateType::VerificationCodeValid,
        TemplateType::VerificationCodeInvalid,
        TemplateType::LoginCodeValid,
        TemplateType::AddressChanged,
        TemplateType::SecondFactorLocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateType::RecoveryCodeValid => "recovery_code_valid",
            TemplateType::RecoveryCodeInvalid => "recovery_code_invalid",
            TemplateType::VerificationCodeValid => "verification_code_valid",
            TemplateType::VerificationCodeInvalid => "verification_code_invalid",
            TemplateType::LoginCodeValid => "login_code_valid",
            TemplateType::AddressChanged => "address_changed",
            TemplateType::SecondFactorLocked => "second_factor_locked",
        }
    }

    /// Built-in (subject, plain-text body).
    fn builtin(self) -> (&'static str, &'static str) {
        match self {
            TemplateType::RecoveryCodeValid => (
                "Recover access to your account",
                "Hi,\n\nplease recover access to your account by entering the following code:\n\n{{ code }}\n\nThe code expires in {{ expires_in_minutes }} minutes. If you did not ask for it, you can ignore this e-mail.\n",
            ),
            TemplateType::RecoveryCodeInvalid => (
                "Account access attempted",
                "Hi,\n\nyou (or someone else) entered this e-mail address when trying to recover access to an account.\n\nHowever, this e-mail address is not on our database of registered users and therefore the attempt has failed.\n\nIf this was you, check if you signed up using a different address.\n\nIf this was not you, please ignore this e-mail.\n",
            ),
            TemplateType::VerificationCodeValid => (
                "Please verify your e-mail address",
                "Hi,\n\nplease verify your account by entering the following code:\n\n{{ code }}\n{% if verification_url %}\nor by opening this link:\n\n{{ verification_url }}\n{% endif %}\nThe code expires in {{ expires_in_minutes }} minutes.\n",
            ),
            TemplateType::VerificationCodeInvalid => (
                "Someone tried to verify this e-mail address",
                "Hi,\n\nsomeone asked to verify this e-mail address, but we were unable to find an account for this address.\n\nIf this was you, check if you signed up using a different address.\n\nIf this was not you, please ignore this e-mail.\n",
            ),
            TemplateType::LoginCodeValid => (
                "Your login code",
                "Hi,\n\nplease enter the following code to sign in:\n\n{{ code }}\n\nThe code expires in {{ expires_in_minutes }} minutes. If you did not try to sign in, you can ignore this e-mail.\n",
            ),
            TemplateType::AddressChanged => (
                "The e-mail address of your account was changed",
                "Hi,\n\nthe e-mail address of your account was changed to {{ new_addresses }} in the account settings.\n\nUntil the new address is verified, this address stays the one that can recover the account.\n\nIf you did not make this change, recover your account with this address now and change your password.\n",
            ),
            TemplateType::SecondFactorLocked => (
                "Too many wrong sign-in codes",
                "Hi,\n\nsomeone signed in to your account with your password and then entered too many wrong authentication or backup codes. To protect your account, its second factor is locked for {{ locked_minutes }} minutes.\n\nIf this was not you, your password is known to someone else: change it as soon as you can.\n",
            ),
        }
    }
}

impl std::fmt::Display for TemplateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TemplateType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        TemplateType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template {name}: {source}")]
    Syntax {
        name: String,
        source: minijinja::Error,
    },
    #[error("rendering {name}: {source}")]
    Render {
        name: String,
        source: minijinja::Error,
    },
}

/// A rendered message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
}

impl std::fmt::Debug for Rendered {
    // The body holds one-time codes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The compiled templates. Names end in `.txt` or `.html`, which is what turns minijinja's HTML
/// auto-escaping on for the HTML body only.
pub struct Templates {
    env: Environment<'static>,
}

fn name(t: TemplateType, part: &str) -> String {
    format!("{}.{part}", t.as_str())
}

impl Templates {
    /// The built-in templates, with whatever files `override_dir` has in their place.
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        for t in TemplateType::ALL {
            let (subject, body) = t.builtin();
            for (part, builtin) in [
                ("subject.txt", Some(subject)),
                ("body.txt", Some(body)),
                ("body.html", None),
            ] {
                let name = name(t, part);
                let file = match override_dir {
                    Some(dir) => read_optional(&dir.join(&name))?,
                    None => None,
                };
                let Some(source) = file.or(builtin.map(str::to_owned)) else {
                    continue;
                };
                env.add_template_owned(name.clone(), source)
                    .map_err(|source| TemplateError::Syntax { name, source })?;
            }
        }
        Ok(Templates { env })
    }

    pub fn render(
        &self,
        t: TemplateType,
        model: &serde_json::Value,
    ) -> Result<Rendered, TemplateError> {
        let render = |part: &str| -> Result<Option<String>, TemplateError> {
            let name = name(t, part);
            match self.env.get_template(&name) {
                Ok(tmpl) => tmpl
                    .render(model)
                    .map(Some)
                    .map_err(|source| TemplateError::Render { name, source }),
                Err(_) => Ok(None),
            }
        };
        let subject = render("subject.txt")?.unwrap_or_default();
        // A header is one line: an override with newlines must not be able to add headers.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Rendered {
            subject,
            body: render("body.txt")?.unwrap_or_default(),
            html_body: render("body.html")?,
        })
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, TemplateError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TemplateError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_render_the_code() {
        let t = Templates::load(None).expect("builtins compile");
        let r = t
            .render(
                TemplateType::RecoveryCodeValid,
                &json!({"code": "123456", "expires_in_minutes": 15, "identity": {}}),
            )
            .expect("renders");
        assert_eq!(r.subject, "Recover access to your account");
        assert!(r.body.contains("123456") && r.body.contains("15 minutes"));
        assert_eq!(r.html_body, None);
        for ty in TemplateType::ALL {
            let r = t.render(ty, &json!({"code": "1"})).expect("renders");
            assert!(!r.subject.is_empty() && !r.body.is_empty(), "{ty}");
            assert_eq!(ty.as_str().parse::<TemplateType>(), Ok(ty));
        }
    }

    #[test]
    fn overrides_replace_single_files_and_html_is_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("recovery_code_valid.subject.txt"),
            "Code\nBcc: evil@example.com {{ code }}",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("recovery_code_valid.body.html"),
            "<p>{{ code }}</p>",
        )
        .expect("write");
        let t = Templates::load(Some(dir.path())).expect("loads");
        let r = t
            .render(TemplateType::RecoveryCodeValid, &json!({"code": "<42>"}))
            .expect("renders");
        assert_eq!(r.subject, "Code Bcc: evil@example.com <42>");
        assert!(r.body.contains("<42>"), "plain text is not escaped");
        assert_eq!(r.html_body.as_deref(), Some("<p>&lt;42&gt;</p>"));
    }

    #[test]
    fn a_broken_override_fails_to_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("login_code_valid.body.txt"), "{{ code ").expect("write");
        let e = Templates::load(Some(dir.path()))
            .err()
            .expect("syntax error");
        assert!(e.to_string().contains("login_code_valid.body.txt"), "{e}");
    }
}
