//! Identity schemas: JSON Schemas for an identity's traits, with Kratos's `ory.sh/kratos`
//! extension saying which traits are login identifiers and which addresses are verified and used
//! for recovery. Schemas are compiled once at start; remote `$ref`s are not resolved.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

pub const DEFAULT_SCHEMA: &str = include_str!("../../../../config/schemas/default.schema.json");

/// Most bytes of an identity's traits, serialised.
pub const MAX_TRAITS_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error("schema `{0}`: {1}")]
    Invalid(String, String),
    #[error("unknown identity schema `{0}`")]
    Unknown(String),
}

/// What the extension says about one trait.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraitRole {
    /// JSON pointer of the trait inside `traits`, e.g. `/email`.
    pub pointer: String,
    /// Credential methods for which this trait is an identifier (`password`, `webauthn`, `code`).
    pub identifier_for: Vec<String>,
    /// `email` when the address is verified by e-mail.
    pub verification_via: Option<String>,
    pub recovery_via: Option<String>,
    /// The trait names the account in authenticator apps.
    pub totp_account_name: bool,
}

/// One compiled schema.
pub struct Schema {
    pub id: String,
    pub raw: Value,
    validator: jsonschema::Validator,
    pub roles: Vec<TraitRole>,
}

/// A trait value the schema marks, read from an identity's traits.
#[derive(Debug, Clone, PartialEq)]
pub struct Marked {
    pub role: TraitRole,
    pub value: String,
}

/// A validation failure: the instance path (`/traits/email`) and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct TraitError {
    pub pointer: String,
    pub message: String,
}

impl Schema {
    pub fn compile(id: &str, raw: Value) -> Result<Schema, SchemaError> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&raw)
            .map_err(|e| SchemaError::Invalid(id.to_owned(), e.to_string()))?;
        let mut roles = Vec::new();
        if let Some(props) = raw.pointer("/properties/traits/properties") {
            collect_roles(props, "", &mut roles);
        }
        Ok(Schema {
            id: id.to_owned(),
            raw,
            validator,
            roles,
        })
    }

    /// Validates traits; every error with the pointer of the trait it concerns.
    pub fn validate(&self, traits: &Value) -> Result<(), Vec<TraitError>> {
        if serde_json::to_vec(traits).map_or(true, |v| v.len() > MAX_TRAITS_BYTES) {
            return Err(vec![TraitError {
                pointer: "/traits".into(),
                message: format!("traits must be at most {MAX_TRAITS_BYTES} bytes"),
            }]);
        }
        let doc = json!({ "traits": traits });
        let mut errors: Vec<TraitError> = self
            .validator
            .iter_errors(&doc)
            .map(|e| TraitError {
                pointer: e.instance_path.to_string(),
                message: e.to_string(),
            })
            .collect();
        // Identifiers and addresses must not look like someone else's.
        for m in self.marked(traits) {
            if let Some(problem) = super::identifier::lookalike_problem(&m.value) {
                let pointer = format!("/traits{}", m.role.pointer);
                if !errors.iter().any(|e| e.pointer == pointer) {
                    errors.push(TraitError {
                        pointer,
                        message: format!("{:?} {problem}", m.value),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The marked trait values present in `traits` (arrays of strings give one each).
    pub fn marked(&self, traits: &Value) -> Vec<Marked> {
        let mut out = Vec::new();
        for role in &self.roles {
            match traits.pointer(&role.pointer) {
                Some(Value::String(s)) => out.push(Marked {
                    role: role.clone(),
                    value: s.clone(),
                }),
                Some(Value::Array(items)) => {
                    for s in items.iter().filter_map(Value::as_str) {
                        out.push(Marked {
                            role: role.clone(),
                            value: s.to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The trait properties in schema order, for building forms: (pointer, title, type,
    /// format, required).
    pub fn form_fields(&self) -> Vec<FormField> {
        let mut out = Vec::new();
        if let Some(traits) = self.raw.pointer("/properties/traits") {
            collect_fields(traits, "", &mut out);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormField {
    /// `traits.email`, `traits.name.first`.
    pub name: String,
    pub title: String,
    /// `email`, `text`, `number`, `checkbox`.
    pub input_type: &'static str,
    pub required: bool,
}

fn collect_fields(obj: &Value, prefix: &str, out: &mut Vec<FormField>) {
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = obj.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, p) in props {
        let path = format!("{prefix}.{name}");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
        if ty == "object" {
            collect_fields(p, &path, out);
            continue;
        }
        let input_type = match (ty, p.get("format").and_then(Value::as_str)) {
            (_, Some("email")) => "email",
            ("number" | "integer", _) => "number",
            ("boolean", _) => "checkbox",
            _ => "text",
        };
        out.push(FormField {
            name: format!("traits{path}"),
            title: p
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
            input_type,
            required: required.contains(&name.as_str()),
        });
    }
}

fn collect_roles(props: &Value, prefix: &str, out: &mut Vec<TraitRole>) {
    let Some(props) = props.as_object() else {
        return;
    };
    for (name, p) in props {
        let pointer = format!("{prefix}/{}", name.replace('~', "~0").replace('/', "~1"));
        if let Some(ext) = p.get("ory.sh/kratos") {
            let mut role = TraitRole {
                pointer: pointer.clone(),
                ..TraitRole::default()
            };
            if let Some(creds) = ext.get("credentials").and_then(Value::as_object) {
                for (method, c) in creds {
                    if c.get("identifier").and_then(Value::as_bool) == Some(true) {
                        role.identifier_for.push(method.clone());
                    }
                    if c.get("account_name").and_then(Value::as_bool) == Some(true) {
                        role.totp_account_name = true;
                    }
                }
            }
            role.verification_via = ext
                .pointer("/verification/via")
                .and_then(Value::as_str)
                .map(str::to_owned);
            role.recovery_via = ext
                .pointer("/recovery/via")
                .and_then(Value::as_str)
                .map(str::to_owned);
            out.push(role);
        }
        if let Some(nested) = p.get("properties") {
            collect_roles(nested, &pointer, out);
        }
        if let Some(items) = p.get("items") {
            // An array of strings carries its extension on `items`.
            if let Some(ext_holder) = items.get("ory.sh/kratos") {
                let wrapped = json!({ name.clone(): { "ory.sh/kratos": ext_holder } });
                collect_roles(&wrapped, prefix, out);
            }
        }
    }
}

/// Every configured schema by id.
#[derive(Clone)]
pub struct Schemas {
    pub default_id: String,
    by_id: Arc<BTreeMap<String, Arc<Schema>>>,
}

impl Schemas {
    /// Compiles the configured schemas (`file://` or `base64://` URLs), or the built-in default.
    pub fn load(cfg: &crate::config::IdentityConfig) -> Result<Schemas, SchemaError> {
        let mut by_id = BTreeMap::new();
        if cfg.schemas.is_empty() {
            let raw: Value = serde_json::from_str(DEFAULT_SCHEMA)
                .map_err(|e| SchemaError::Invalid("default".into(), e.to_string()))?;
            by_id.insert(
                "default".to_owned(),
                Arc::new(Schema::compile("default", raw)?),
            );
        }
        for s in &cfg.schemas {
            let text = read_source(&s.url).map_err(|e| SchemaError::Invalid(s.id.clone(), e))?;
            let raw: Value = serde_json::from_str(&text)
                .map_err(|e| SchemaError::Invalid(s.id.clone(), format!("not JSON: {e}")))?;
            by_id.insert(s.id.clone(), Arc::new(Schema::compile(&s.id, raw)?));
        }
        let default_id = if cfg.schemas.is_empty() {
            "default".to_owned()
        } else {
            cfg.default_schema_id.clone()
        };
        if !by_id.contains_key(&default_id) {
            return Err(SchemaError::Unknown(default_id));
        }
        Ok(Schemas {
            default_id,
            by_id: Arc::new(by_id),
        })
    }

    pub fn get(&self, id: &str) -> Result<Arc<Schema>, SchemaError> {
        self.by_id
            .get(id)
            .cloned()
            .ok_or_else(|| SchemaError::Unknown(id.to_owned()))
    }

    pub fn default_schema(&self) -> Arc<Schema> {
        self.get(&self.default_id)
            .unwrap_or_else(|_| unreachable_default())
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Schema>> {
        self.by_id.values()
    }
}

#[expect(
    clippy::panic,
    reason = "Schemas::load guarantees the default schema exists"
)]
fn unreachable_default() -> Arc<Schema> {
    panic!("the default identity schema is always loaded")
}

fn read_source(url: &str) -> Result<String, String> {
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
    }
    if let Some(b64) = url.strip_prefix("base64://") {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.trim()))
            .map_err(|e| format!("bad base64: {e}"))?;
        return String::from_utf8(bytes).map_err(|e| e.to_string());
    }
    Err("the url must be file:///path or base64://...".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Schema {
        Schema::compile(
            "default",
            serde_json::from_str(DEFAULT_SCHEMA).expect("json"),
        )
        .expect("ok")
    }

    #[test]
    fn default_schema_marks_email() {
        let s = default();
        assert_eq!(s.roles.len(), 1);
        let r = &s.roles[0];
        assert_eq!(r.pointer, "/email");
        assert!(r.identifier_for.contains(&"password".to_owned()));
        assert_eq!(r.verification_via.as_deref(), Some("email"));
        assert_eq!(r.recovery_via.as_deref(), Some("email"));
        let m = s.marked(&json!({"email": "a@example.com"}));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, "a@example.com");
    }

    #[test]
    fn validation_errors_point_at_the_trait() {
        let s = default();
        assert!(
            s.validate(&json!({"email": "a@example.com", "name": "A"}))
                .is_ok()
        );
        let e = s
            .validate(&json!({"email": "not-an-email"}))
            .expect_err("bad");
        assert_eq!(e[0].pointer, "/traits/email");
        assert!(s.validate(&json!({"name": "A"})).is_err());
        assert!(
            s.validate(&json!({"email": "a@example.com", "extra": 1}))
                .is_err()
        );
        let huge = "x".repeat(MAX_TRAITS_BYTES);
        assert!(
            s.validate(&json!({"email": "a@example.com", "name": huge}))
                .is_err()
        );
    }

    #[test]
    fn form_fields_follow_the_schema() {
        let f = default().form_fields();
        assert_eq!(f[0].name, "traits.email");
        assert_eq!(f[0].input_type, "email");
        assert!(f[0].required);
        assert_eq!(f[1].name, "traits.name");
    }
}
