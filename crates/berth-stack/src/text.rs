//! References inside string values: `${secret:NAME}` and `${env:NAME:-default}`.
//!
//! A secret reference stays a reference all the way into the Plan; only a target resolves
//! it, at the last moment. An environment reference is replaced at resolution time with a
//! value the caller gathered into the [`Environment`](crate::Environment).

use std::collections::BTreeMap;

/// One piece of a string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Literal(String),
    /// `${secret:NAME}`.
    Secret(String),
    /// `${env:NAME}` or `${env:NAME:-default}`.
    Env {
        /// The variable.
        name: String,
        /// Used when the variable is unset or empty.
        default: Option<String>,
    },
}

/// A string value split into literal text and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The pieces, in order.
    pub parts: Vec<Part>,
}

/// Why a string's references could not be read. `offset` is the byte offset of the `${`
/// within the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    /// Byte offset in the string.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

fn valid_var(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl Text {
    /// Splits a string into literal text and references. `$$` escapes a dollar sign.
    pub fn parse(s: &str) -> Result<Text, TextError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = s;
        let mut consumed = 0usize;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                consumed += pos + 2;
                rest = tail;
                continue;
            }
            if !after.starts_with('{') {
                literal.push('$');
                consumed += pos + 1;
                rest = after;
                continue;
            }
            let offset = consumed + pos;
            let Some(end) = after.find('}') else {
                return Err(TextError {
                    offset,
                    message: "unterminated reference: `${` without a closing `}`".into(),
                    help: "write `${secret:NAME}` or `${env:NAME}`; use `$$` for a literal `$`"
                        .into(),
                });
            };
            let inner = &after[1..end];
            let part = Self::reference(inner).map_err(|(message, help)| TextError {
                offset,
                message,
                help,
            })?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            consumed += pos + 1 + end + 1;
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Text { parts })
    }

    fn reference(inner: &str) -> Result<Part, (String, String)> {
        let Some((kind, body)) = inner.split_once(':') else {
            return Err((
                format!("`${{{inner}}}` is not a reference"),
                "write `${secret:NAME}` or `${env:NAME:-default}`".into(),
            ));
        };
        match kind {
            "secret" => {
                if valid_var(body) {
                    Ok(Part::Secret(body.to_string()))
                } else {
                    Err((
                        format!("`{body}` is not a valid secret name"),
                        "secret names use letters, digits, `_`, `-` and `.`, e.g. \
                         `${secret:OPENAI_API_KEY}`"
                            .into(),
                    ))
                }
            }
            "env" => {
                let (name, default) = match body.split_once(":-") {
                    Some((n, d)) => (n, Some(d.to_string())),
                    None => (body, None),
                };
                if valid_var(name) {
                    Ok(Part::Env {
                        name: name.to_string(),
                        default,
                    })
                } else {
                    Err((
                        format!("`{name}` is not a valid environment variable name"),
                        "write `${env:NAME}` or `${env:NAME:-default}`".into(),
                    ))
                }
            }
            other => Err((
                format!("unknown reference kind `{other}`"),
                match crate::diagnostic::suggest(other, &["secret", "env"]) {
                    Some(s) => format!("did you mean `${{{s}:{body}}}`?"),
                    None => "references are `${secret:NAME}` or `${env:NAME:-default}`".into(),
                },
            )),
        }
    }

    /// The secrets this text refers to.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Secret(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The environment variables this text refers to.
    pub fn env_vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Env { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the whole text is exactly one secret reference.
    pub fn as_single_secret(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Secret(n)] => Some(n),
            _ => None,
        }
    }

    /// Replaces environment references with their values and `$$` with `$`, keeping
    /// secret references as `${secret:NAME}` (the only `${…}` form left in the result).
    /// Returns the names of unset variables that had no default.
    pub fn expand(&self, env: &BTreeMap<String, String>) -> (String, Vec<String>) {
        let mut out = String::new();
        let mut missing = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Secret(n) => out.push_str(&format!("${{secret:{n}}}")),
                Part::Env { name, default } => match env.get(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(v),
                    None => match default {
                        Some(d) => out.push_str(&d.replace("$$", "$")),
                        None => missing.push(name.clone()),
                    },
                },
            }
        }
        (out, missing)
    }
}

/// A URL with its password (user-info or a `password=` option) replaced by `***`, for
/// messages and logs; text that is not a URL keeps everything but `password=` values.
/// Every crate that shows a connection string goes through it.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        let authority_end = out[start..]
            .find(['/', '?', '#'])
            .map(|i| start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[start..authority_end].rfind('@') {
            let at = start + at;
            if let Some(colon) = out[start..at].find(':') {
                let colon = start + colon;
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    // key=value options: password=…, sslpassword=…
    let lower = out.to_ascii_lowercase();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        if let Some(pos) = lower[i..].find("password=") {
            let vstart = i + pos + "password=".len();
            result.push_str(&out[i..vstart]);
            let vend = out[vstart..]
                .find(['&', ' ', ';'])
                .map(|j| vstart + j)
                .unwrap_or(out.len());
            result.push_str("***");
            i = vend;
        } else {
            result.push_str(&out[i..]);
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_literals() {
        let t = Text::parse("postgres://u:${secret:PG_PASS}@${env:PGHOST:-db}:5432").unwrap();
        assert_eq!(t.secrets().collect::<Vec<_>>(), ["PG_PASS"]);
        assert_eq!(t.env_vars().collect::<Vec<_>>(), ["PGHOST"]);
        let (s, missing) = t.expand(&BTreeMap::new());
        assert_eq!(s, "postgres://u:${secret:PG_PASS}@db:5432");
        assert!(missing.is_empty());
        let env = BTreeMap::from([("PGHOST".to_string(), "h".to_string())]);
        assert_eq!(t.expand(&env).0, "postgres://u:${secret:PG_PASS}@h:5432");
    }

    #[test]
    fn bad_references_are_errors_with_offsets() {
        let e = Text::parse("abc ${secret:}").unwrap_err();
        assert_eq!(e.offset, 4);
        let e = Text::parse("${secrets:KEY}").unwrap_err();
        assert_eq!(e.message, "unknown reference kind `secrets`");
        assert_eq!(e.help, "did you mean `${secret:KEY}`?");
        assert!(Text::parse("${env:HOME").is_err());
        assert!(Text::parse("${HOME}").is_err());
    }

    #[test]
    fn dollars_escape() {
        let t = Text::parse("cost $$5 and $x").unwrap();
        assert_eq!(t.parts, vec![Part::Literal("cost $5 and $x".into())]);
        assert_eq!(t.as_single_secret(), None);
        assert_eq!(
            Text::parse("${secret:K}").unwrap().as_single_secret(),
            Some("K")
        );
    }

    #[test]
    fn missing_env_without_default_is_reported() {
        let t = Text::parse("${env:NOPE}").unwrap();
        assert_eq!(t.expand(&BTreeMap::new()).1, vec!["NOPE".to_string()]);
    }
}
