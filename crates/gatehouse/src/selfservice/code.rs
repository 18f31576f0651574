//! One-time codes by e-mail, shared by recovery and verification (Kratos's `code` method).
//!
//! A 6-digit code is sent; only its digest, bound to the flow id, is kept in the flow. A code
//! lives 15 minutes (or the flow's life if shorter), works once, and the flow dies after five
//! wrong tries, so guessing has at most 5 chances in 10^6 per e-mail sent.
//!
//! Per address, over all flows and replicas (counters in the database, [`super::lockout`]): at
//! most `rate_limits.codes_per_address_per_hour` codes are sent, and at most
//! `rate_limits.code_failures_per_address_per_hour` codes are tried. The counts and the
//! refusals are the same whether or not the address has an account, so they tell nothing about
//! it; they stop inbox flooding and bound distributed guessing to a few tries per hour.

use gatehouse_crypto::TokenHash;

use super::ui::{Autocomplete, Message, Node};
use super::{Flow, FlowKind, SelfService};
use crate::error::Result;

pub const CODE_TTL: i64 = 15 * 60;
pub const MAX_ATTEMPTS: u32 = 5;

pub fn generate() -> String {
    let b = gatehouse_crypto::random::bytes::<8>();
    format!("{:06}", u64::from_le_bytes(b) % 1_000_000)
}

pub fn digest(flow_id: &str, code: &str) -> String {
    TokenHash::of_secret(&format!("{flow_id}:{}", code.trim())).to_hex()
}

/// What checking a submitted code found.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Valid,
    Invalid,
    /// Expired, used up or too many tries: a new code must be requested.
    Exhausted,
}

pub fn check(flow: &mut Flow, code: &str, now: i64) -> Check {
    let Some(expected) = flow.code_hash.clone() else {
        return Check::Exhausted;
    };
    if now > flow.code_expires_at || flow.code_attempts >= MAX_ATTEMPTS {
        flow.code_hash = None;
        return Check::Exhausted;
    }
    flow.code_attempts += 1;
    let given = code.trim();
    if given.len() == 6
        && given.bytes().all(|b| b.is_ascii_digit())
        && gatehouse_crypto::ct_eq(digest(&flow.id, given).as_bytes(), expected.as_bytes())
    {
        flow.code_hash = None;
        Check::Valid
    } else {
        Check::Invalid
    }
}

impl SelfService {
    /// Checks a submitted code and writes the attempt back before anything is done with it,
    /// only over the flow as it was loaded ([`SelfService::save_if_unchanged`]). `Valid`: this
    /// submission consumed the code. Otherwise the flow carries the refusal's messages
    /// (`invalid` or `exhausted`, as [`reject`]). A submission that lost a race with another
    /// for the same flow consumes and counts nothing, and is answered as a wrong code.
    pub(super) async fn consume_code(
        &self,
        flow: &mut Flow,
        entered: &str,
        now: i64,
        invalid: Message,
        exhausted: Message,
    ) -> Result<Check> {
        if flow.code_hash.is_some()
            && let Some(addr) = flow.recipient.clone()
            && self.limits.enabled()
        {
            // Counted before it is checked, so simultaneous guesses cannot pass the cap.
            let cap = self.limits.config().code_failures_per_address_per_hour;
            if !self
                .window_take(&address_key("tries", flow.kind, &addr), HOUR, cap, now)
                .await?
            {
                flow.code_hash = None;
                reject(flow, &Check::Exhausted, invalid, too_many_tries());
                self.save_if_unchanged(flow).await?;
                return Ok(Check::Exhausted);
            }
        }
        let result = check(flow, entered, now);
        if result != Check::Valid {
            reject(flow, &result, invalid.clone(), exhausted);
        }
        if !self.save_if_unchanged(flow).await? {
            reject(flow, &Check::Invalid, invalid.clone(), invalid);
            return Ok(Check::Invalid);
        }
        Ok(result)
    }
}

const HOUR: i64 = 3600;

/// The flows-table key of a per-address counter (`what`: `sent` or `tries`); the address only
/// as a digest.
fn address_key(what: &str, kind: FlowKind, addr: &str) -> String {
    format!(
        "code-{what}:{}:{}",
        kind.as_str(),
        TokenHash::of_secret(addr).to_hex()
    )
}

fn too_many_tries() -> Message {
    Message::error(
        super::ui::msg::RATE_LIMITED,
        "Too many wrong codes were entered for this address; please wait an hour and request a new code.",
    )
}

/// The answer when an address had its codes for this hour: the same for every address.
pub fn too_many_codes() -> Message {
    Message::error(
        super::ui::msg::RATE_LIMITED,
        "Too many codes were requested for this address; please wait an hour and try again.",
    )
}

impl SelfService {
    /// Counts one code to be e-mailed to `addr` (whether or not it has an account); false when
    /// the address had its codes for this hour and none may be sent.
    pub(super) async fn may_send_code(&self, kind: FlowKind, addr: &str, now: i64) -> Result<bool> {
        if !self.limits.enabled() {
            return Ok(true);
        }
        let cap = self.limits.config().codes_per_address_per_hour;
        self.window_take(&address_key("sent", kind, addr), HOUR, cap, now)
            .await
    }
}

/// Applies a refused code to the flow: an invalid code marks the field (`invalid`); a used-up
/// code sends the flow back to asking for the address (`exhausted`).
pub fn reject(flow: &mut Flow, result: &Check, invalid: Message, exhausted: Message) {
    if *result == Check::Exhausted {
        flow.state = "choose_method".into();
        flow.messages = vec![exhausted];
    } else {
        flow.messages.clear();
        flow.field_messages.insert("code".into(), vec![invalid]);
    }
}

/// The submitted e-mail address, normalised and kept on the flow for the form; `None` (with the
/// field's message set) when it is not a plausible address.
pub fn submitted_email(flow: &mut Flow, email: Option<&str>) -> Option<String> {
    let email = crate::identity::model::normalize_identifier(email.unwrap_or(""));
    flow.values.insert("email".into(), email.clone());
    if email.len() < 3 || email.len() > 320 || !email.contains('@') {
        flow.messages.clear();
        flow.field_messages.insert(
            "email".into(),
            vec![Message::error(
                super::ui::msg::VALIDATION,
                "A valid e-mail address is required.",
            )],
        );
        return None;
    }
    Some(email)
}

pub fn nodes(flow: &Flow, nodes: &mut Vec<Node>) {
    let recovery = flow.kind == FlowKind::Recovery;
    if flow.state == "sent_email" {
        nodes.push(
            Node::input("code", "code", "text")
                .required()
                .autocomplete(Autocomplete::OneTimeCode)
                .attr("inputmode", "numeric")
                .attr("pattern", "[0-9]{6}")
                .attr("maxlength", 6)
                .label(
                    if recovery { 1_070_013 } else { 1_070_011 },
                    if recovery {
                        "Recovery code"
                    } else {
                        "Verification code"
                    },
                ),
        );
        nodes.push(Node::submit(
            "code", "method", "code", 1_070_009, "Continue",
        ));
        if let Some(r) = &flow.recipient {
            nodes.push(Node::submit("code", "email", r, 1_070_008, "Resend code"));
        }
    } else if flow.state != "passed_challenge" {
        nodes.push(
            Node::input("code", "email", "email")
                .required()
                .autocomplete(Autocomplete::Email)
                .value(flow.values.get("email").cloned().unwrap_or_default())
                .label(1_070_007, "Email"),
        );
        nodes.push(Node::submit("code", "method", "code", 1_070_005, "Submit"));
    }
}

/// Kratos's message after a code was (maybe) sent: the same whether or not the address exists.
pub fn sent_message(recovery: bool) -> Message {
    if recovery {
        Message::info(
            1_060_003,
            "An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
        )
    } else {
        Message::info(
            1_080_003,
            "An email containing a verification code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.",
        )
    }
}
