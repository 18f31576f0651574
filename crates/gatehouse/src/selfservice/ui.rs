//! Kratos's UI nodes and messages: what a flow asks for, in the format Ory's UI libraries and
//! SDKs render. Message ids are Kratos's, so translations keyed on them keep working.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub id: u32,
    pub text: String,
    /// `info`, `error` or `success`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub context: Value,
}

impl Message {
    pub fn error(id: u32, text: impl Into<String>) -> Message {
        Message {
            id,
            text: text.into(),
            kind: "error".into(),
            context: json!({}),
        }
    }

    pub fn info(id: u32, text: impl Into<String>) -> Message {
        Message {
            id,
            text: text.into(),
            kind: "info".into(),
            context: json!({}),
        }
    }

    pub fn success(id: u32, text: impl Into<String>) -> Message {
        Message {
            id,
            text: text.into(),
            kind: "success".into(),
            context: json!({}),
        }
    }

    pub fn json(&self) -> Value {
        json!({"id": self.id, "text": self.text, "type": self.kind, "context": self.context})
    }
}

/// Kratos's message ids for what Gatehouse says.
pub mod msg {
    pub const INVALID_CREDENTIALS: u32 = 4_000_006;
    pub const IDENTIFIER_EXISTS: u32 = 4_000_007;
    pub const PASSWORD_POLICY: u32 = 4_000_005;
    pub const REQUIRED: u32 = 4_000_002;
    pub const VALIDATION: u32 = 4_000_001;
    pub const TOTP_INVALID: u32 = 4_000_008;
    pub const LOOKUP_INVALID: u32 = 4_000_016;
    pub const FLOW_EXPIRED: u32 = 4_010_001;
    pub const SETTINGS_SAVED: u32 = 1_050_001;
    /// Gatehouse's own: long-lived credentials revoked after a recovery or password change.
    pub const CREDENTIALS_REVOKED: u32 = 1_050_101;
    pub const LOGIN_AAL2: u32 = 1_010_004;
    pub const LOGIN_REFRESH: u32 = 1_010_003;
    pub const RATE_LIMITED: u32 = 4_000_029;
    pub const WEBAUTHN_INVALID: u32 = 4_000_001;
}

/// The `autocomplete` values Kratos's schema allows on an input node (its
/// `UiNodeInputAttributeAutocomplete` enum): Ory's SDKs with strict models refuse any other, so
/// no other can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autocomplete {
    Email,
    Tel,
    Url,
    CurrentPassword,
    NewPassword,
    OneTimeCode,
    UsernameWebauthn,
}

impl Autocomplete {
    pub fn as_str(self) -> &'static str {
        match self {
            Autocomplete::Email => "email",
            Autocomplete::Tel => "tel",
            Autocomplete::Url => "url",
            Autocomplete::CurrentPassword => "current-password",
            Autocomplete::NewPassword => "new-password",
            Autocomplete::OneTimeCode => "one-time-code",
            Autocomplete::UsernameWebauthn => "username webauthn",
        }
    }
}

/// A node builder.
pub struct Node {
    group: &'static str,
    attributes: Value,
    label: Option<(u32, String)>,
    label_context: Option<Value>,
    messages: Vec<Message>,
}

impl Node {
    pub fn input(group: &'static str, name: &str, ty: &str) -> Node {
        Node {
            group,
            attributes: json!({"name": name, "type": ty, "disabled": false, "node_type": "input"}),
            label: None,
            label_context: None,
            messages: Vec::new(),
        }
    }

    pub fn hidden(group: &'static str, name: &str, value: &str) -> Node {
        Node::input(group, name, "hidden").value(value)
    }

    /// A submit button `method=<method>`.
    pub fn submit(
        group: &'static str,
        name: &str,
        value: &str,
        label_id: u32,
        label: &str,
    ) -> Node {
        Node::input(group, name, "submit")
            .value(value)
            .label(label_id, label)
    }

    pub fn img(group: &'static str, id: &str, src: String, label_id: u32, label: &str) -> Node {
        Node {
            group,
            attributes: json!({"id": id, "src": src, "width": 256, "height": 256, "node_type": "img"}),
            label: Some((label_id, label.to_owned())),
            label_context: None,
            messages: Vec::new(),
        }
    }

    pub fn text(group: &'static str, id: &str, text: Value, label_id: u32, label: &str) -> Node {
        Node {
            group,
            attributes: json!({"id": id, "text": text, "node_type": "text"}),
            label: Some((label_id, label.to_owned())),
            label_context: None,
            messages: Vec::new(),
        }
    }

    /// A `script` node (Kratos's WebAuthn script); `attributes` without `node_type`.
    pub fn script(group: &'static str, mut attributes: Value) -> Node {
        attributes["node_type"] = json!("script");
        Node {
            group,
            attributes,
            label: None,
            label_context: None,
            messages: Vec::new(),
        }
    }

    pub fn value(mut self, v: impl Into<Value>) -> Node {
        self.attributes["value"] = v.into();
        self
    }

    pub fn required(mut self) -> Node {
        self.attributes["required"] = json!(true);
        self
    }

    pub fn autocomplete(mut self, a: Autocomplete) -> Node {
        self.attributes["autocomplete"] = json!(a.as_str());
        self
    }

    pub fn attr(mut self, k: &str, v: impl Into<Value>) -> Node {
        self.attributes[k] = v.into();
        self
    }

    pub fn label(mut self, id: u32, text: &str) -> Node {
        self.label = Some((id, text.to_owned()));
        self
    }

    /// A label with a context (Kratos's labels that name a thing, e.g. a key's display name).
    pub fn label_message(mut self, m: Message) -> Node {
        self.label = Some((m.id, m.text));
        self.label_context = Some(m.context);
        self
    }

    pub fn messages(mut self, m: Vec<Message>) -> Node {
        self.messages = m;
        self
    }

    pub fn name(&self) -> Option<&str> {
        self.attributes.get("name").and_then(Value::as_str)
    }

    pub fn json(&self) -> Value {
        let meta = match &self.label {
            Some((id, text)) => {
                let mut l = json!({"id": id, "text": text, "type": "info"});
                if let Some(c) = &self.label_context {
                    l["context"] = c.clone();
                }
                json!({ "label": l })
            }
            None => json!({}),
        };
        json!({
            "type": self.attributes["node_type"],
            "group": self.group,
            "attributes": self.attributes,
            "messages": self.messages.iter().map(Message::json).collect::<Vec<_>>(),
            "meta": meta,
        })
    }
}
