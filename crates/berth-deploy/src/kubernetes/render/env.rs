//! Environment variables, with every `${secret:NAME}` turned into a reference to the
//! stack's Secret — never a value.
//!
//! - A value that is exactly one reference becomes `valueFrom.secretKeyRef`.
//! - A reference inside a longer value (a URL with a password) becomes `$(BERTH_SECRET_NAME)`,
//!   Kubernetes' dependent variable expansion, after a helper variable
//!   `BERTH_SECRET_NAME` defined from the Secret ahead of every other variable. Command
//!   and arguments use the same helpers.
//! - Every other `$` is written `$$`, so Kubernetes' expansion gives back the text as
//!   planned.

use super::RenderError;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use std::collections::BTreeSet;

/// Prefix of the helper variables that hold secrets used inside longer values.
pub(crate) const HELPER_PREFIX: &str = "BERTH_SECRET_";

/// One piece of a planned string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text as planned.
    Literal(&'a str),
    /// `${secret:NAME}`.
    Secret(&'a str),
}

fn valid_secret(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Splits a planned string into literal text and secret references. Total: anything that
/// is not a well-formed `${secret:NAME}` is literal text.
pub(crate) fn split(text: &str) -> Vec<Piece<'_>> {
    const OPEN: &str = "${secret:";
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut literal_start = 0usize;
    let mut offset = 0usize;
    while let Some(pos) = rest.find(OPEN) {
        let after = &rest[pos + OPEN.len()..];
        match after.find('}') {
            Some(end) if valid_secret(&after[..end]) => {
                let start = offset + pos;
                if start > literal_start {
                    pieces.push(Piece::Literal(&text[literal_start..start]));
                }
                pieces.push(Piece::Secret(&after[..end]));
                let consumed = pos + OPEN.len() + end + 1;
                offset += consumed;
                literal_start = offset;
                rest = &rest[consumed..];
            }
            _ => {
                offset += pos + 1;
                rest = &rest[pos + 1..];
            }
        }
    }
    if literal_start < text.len() {
        pieces.push(Piece::Literal(&text[literal_start..]));
    }
    pieces
}

/// The secret names a planned string refers to.
pub(crate) fn secrets_in(text: &str) -> impl Iterator<Item = &str> {
    split(text).into_iter().filter_map(|p| match p {
        Piece::Secret(name) => Some(name),
        Piece::Literal(_) => None,
    })
}

/// Builds one container's environment.
pub(crate) struct EnvBuilder {
    secret: String,
    helpers: BTreeSet<String>,
    exposed: BTreeSet<String>,
    vars: Vec<EnvVar>,
}

impl EnvBuilder {
    /// A builder whose secret references point at the Secret `secret`.
    pub(crate) fn new(secret: &str) -> Self {
        EnvBuilder {
            secret: secret.to_string(),
            helpers: BTreeSet::new(),
            exposed: BTreeSet::new(),
            vars: Vec::new(),
        }
    }

    fn secret_var(&self, name: &str, key: &str) -> EnvVar {
        EnvVar {
            name: name.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: self.secret.clone(),
                    key: key.to_string(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
        }
    }

    /// Sets a variable from a planned value.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        let pieces = split(value);
        if let [Piece::Secret(secret)] = pieces.as_slice() {
            let var = self.secret_var(name, secret);
            self.vars.push(var);
            return;
        }
        let value = self.expand(value);
        self.vars.push(EnvVar {
            name: name.to_string(),
            value: Some(value),
            value_from: None,
        });
    }

    /// A planned string as Kubernetes expands it in values, commands and arguments:
    /// secrets as `$(BERTH_SECRET_NAME)`, every other `$` escaped.
    pub(crate) fn expand(&mut self, text: &str) -> String {
        let mut out = String::new();
        for piece in split(text) {
            match piece {
                Piece::Literal(l) => out.push_str(&l.replace('$', "$$")),
                Piece::Secret(s) => {
                    self.helpers.insert(s.to_string());
                    out.push_str(&format!("$({HELPER_PREFIX}{s})"));
                }
            }
        }
        out
    }

    /// Exposes a secret under its own name, the way berth's own roles resolve
    /// `${secret:NAME}` in the stack file.
    pub(crate) fn expose(&mut self, secret: &str) {
        self.exposed.insert(secret.to_string());
    }

    /// The variables in order: helpers, exposed secrets, then the rest as set. Fails when a
    /// variable berth adds is also set to something else.
    pub(crate) fn finish(self, component: &str) -> Result<Vec<EnvVar>, RenderError> {
        let mut out: Vec<EnvVar> = Vec::new();
        for helper in &self.helpers {
            out.push(self.secret_var(&format!("{HELPER_PREFIX}{helper}"), helper));
        }
        for secret in &self.exposed {
            let same = self.secret_var(secret, secret);
            match self.vars.iter().find(|v| v.name == *secret) {
                Some(existing) if *existing == same => {}
                Some(_) => {
                    return Err(RenderError::EnvClash {
                        component: component.to_string(),
                        variable: secret.clone(),
                    });
                }
                None => out.push(same),
            }
        }
        for var in self.vars {
            if out.iter().any(|v| v.name == var.name) {
                return Err(RenderError::EnvClash {
                    component: component.to_string(),
                    variable: var.name,
                });
            }
            out.push(var);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_references_inside_text() {
        assert_eq!(
            split("postgres://u:${secret:PG}@db/x"),
            [
                Piece::Literal("postgres://u:"),
                Piece::Secret("PG"),
                Piece::Literal("@db/x")
            ]
        );
        assert_eq!(
            split("${secret:A}${secret:B}"),
            [Piece::Secret("A"), Piece::Secret("B")]
        );
        assert_eq!(split("${secret:}x"), [Piece::Literal("${secret:}x")]);
        assert_eq!(split("a ${secret:X"), [Piece::Literal("a ${secret:X")]);
        assert_eq!(split(""), []);
    }

    #[test]
    fn whole_references_are_secret_key_refs_and_embedded_ones_expand() {
        let mut env = EnvBuilder::new("s-secrets");
        env.set("PASSWORD", "${secret:PG}");
        env.set("URL", "postgres://u:${secret:PG}@db/$x");
        env.set("PLAIN", "a$b");
        let vars = env.finish("c").unwrap();
        let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["BERTH_SECRET_PG", "PASSWORD", "URL", "PLAIN"]);
        let key = |v: &EnvVar| {
            let r = v.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some((r.name.clone(), r.key.clone()))
        };
        assert_eq!(key(&vars[0]), Some(("s-secrets".into(), "PG".into())));
        assert_eq!(key(&vars[1]), Some(("s-secrets".into(), "PG".into())));
        assert_eq!(
            vars[2].value.as_deref(),
            Some("postgres://u:$(BERTH_SECRET_PG)@db/$$x")
        );
        assert_eq!(vars[3].value.as_deref(), Some("a$$b"));
    }

    #[test]
    fn exposing_a_secret_clashes_with_another_value_of_the_same_name() {
        let mut env = EnvBuilder::new("s");
        env.set("KEY", "literal");
        env.expose("KEY");
        assert!(matches!(env.finish("c"), Err(RenderError::EnvClash { .. })));
        let mut env = EnvBuilder::new("s");
        env.set("KEY", "${secret:KEY}");
        env.expose("KEY");
        assert_eq!(env.finish("c").unwrap().len(), 1);
    }
}
