//! The theme: templates and the stylesheet, embedded in the binary and overridable file by file
//! from `selfservice.ui.theme_path`. Loaded once at start; nothing is read from disk afterwards.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

use crate::error::{Error, Result};
use crate::web::AppState;

#[derive(rust_embed::RustEmbed)]
#[folder = "templates/"]
struct Embedded;

/// Every template the pages render or include; all are loaded (and checked) at start.
pub const TEMPLATES: &[&str] = &[
    "base.html",
    "messages.html",
    "node.html",
    "flow.html",
    "error.html",
    "consent.html",
    "logout.html",
    "logout_request.html",
    "welcome.html",
    "credentials.html",
];

const STYLESHEET: &str = "static/style.css";

/// The template environment and the stylesheet, built once.
pub struct Pages {
    env: Environment<'static>,
    css: bytes::Bytes,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

/// A theme-relative name that cannot leave the theme directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

/// A file from the theme directory when present there, else the embedded one.
fn read(theme: Option<&Path>, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    if !safe_name(name) {
        return Ok(None);
    }
    if let Some(dir) = theme {
        match std::fs::read(dir.join(name)) {
            Ok(b) => return Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Embedded::get(name).map(|f| f.data.into_owned()))
}

impl Pages {
    /// Builds the environment from the embedded theme, overridden by `theme_path`.
    pub fn load(theme_path: Option<&str>) -> Result<Pages> {
        let theme: Option<PathBuf> = theme_path.map(PathBuf::from);
        if let Some(dir) = &theme
            && !dir.is_dir()
        {
            return Err(Error::BadRequest(format!(
                "selfservice.ui.theme_path: {} is not a directory",
                dir.display()
            )));
        }
        let mut env = Environment::new();
        let loader_theme = theme.clone();
        env.set_loader(move |name| {
            let bytes = read(loader_theme.as_deref(), name).map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("reading template {name}: {e}"),
                )
            })?;
            bytes
                .map(|b| {
                    String::from_utf8(b).map_err(|_| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("template {name} is not UTF-8"),
                        )
                    })
                })
                .transpose()
        });
        for name in TEMPLATES {
            env.get_template(name)
                .map_err(|e| Error::BadRequest(format!("template {name}: {e:#}")))?;
        }
        let css = read(theme.as_deref(), STYLESHEET)
            .map_err(|e| Error::BadRequest(format!("reading {STYLESHEET}: {e}")))?
            .ok_or_else(|| Error::Internal(format!("{STYLESHEET} is not embedded")))?;
        Ok(Pages {
            env,
            css: css.into(),
        })
    }

    /// Renders a template with a JSON context; `.html` templates are auto-escaped.
    pub fn render(&self, name: &str, ctx: serde_json::Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from_serialize(&ctx)))
            .map_err(|e| Error::Internal(format!("template {name}: {e:#}")))
    }
}

/// `GET /ui/static/style.css`.
pub async fn stylesheet(State(s): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        s.pages.css.clone(),
    )
        .into_response()
}
