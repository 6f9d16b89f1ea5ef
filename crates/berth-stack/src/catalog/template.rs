//! Catalog templates (`{{ settings.model }}`, `{{ ports.http }}`, `{{ url }}`), rendered
//! with minijinja in strict mode so a misspelt variable is an error, not an empty string.

use super::{Setting, SettingType};
use crate::yaml::{Node, NodeKind};
use minijinja::{Environment, UndefinedBehavior};

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(false);
    env
}

/// Checks that a template parses.
pub(crate) fn check_syntax(template: &str) -> Result<(), String> {
    environment()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renders a template against a JSON context.
pub(crate) fn render(template: &str, ctx: &serde_json::Value) -> Result<String, String> {
    let env = environment();
    let tmpl = env.template_from_str(template).map_err(|e| e.to_string())?;
    tmpl.render(ctx).map(|s| s.trim().to_string()).map_err(|e| {
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        msg
    })
}

/// Checks a `with:` value (or a default) against the setting's declared type, and turns
/// it into JSON for templates and the Plan.
pub(crate) fn check_setting_value(
    setting: &Setting,
    value: &Node,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    let found = value.kind.type_name();
    let v = match (setting.kind, &value.kind) {
        (_, NodeKind::Null) => J::Null,
        (SettingType::String, NodeKind::Str(s)) => J::String(s.clone()),
        (SettingType::String, NodeKind::Int(_, raw) | NodeKind::Float(_, raw)) => {
            J::String(raw.clone())
        }
        (SettingType::Integer, NodeKind::Int(i, _)) => i64::try_from(*i)
            .map(J::from)
            .map_err(|_| format!("{i} is out of range"))?,
        (SettingType::Number, NodeKind::Int(i, _)) => J::from(*i as f64),
        (SettingType::Number, NodeKind::Float(f, _)) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| "expected a finite number".to_string())?,
        (SettingType::Boolean, NodeKind::Bool(b)) => J::Bool(*b),
        (SettingType::List, NodeKind::Seq(items)) => J::Array(
            items
                .iter()
                .map(|i| match &i.kind {
                    NodeKind::Str(s) => Ok(J::String(s.clone())),
                    NodeKind::Int(_, raw) | NodeKind::Float(_, raw) => Ok(J::String(raw.clone())),
                    NodeKind::Bool(b) => Ok(J::String(b.to_string())),
                    other => Err(format!(
                        "list items must be plain values, found {}",
                        other.type_name()
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
        (kind, _) => {
            let want = match kind {
                SettingType::String => "a string",
                SettingType::Integer => "an integer",
                SettingType::Number => "a number",
                SettingType::Boolean => "`true` or `false`",
                SettingType::List => "a list",
            };
            return Err(format!("expected {want}, found {found}"));
        }
    };
    if let (Some(allowed), J::String(s)) = (&setting.one_of, &v)
        && !allowed.iter().any(|a| a == s)
    {
        return Err(format!(
            "`{s}` is not allowed; expected {}",
            crate::yaml::one_of(allowed)
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_templates_reject_misspelt_variables() {
        let ctx = json!({"settings": {"model": "m"}});
        assert_eq!(
            render("--model={{ settings.model }}", &ctx).unwrap(),
            "--model=m"
        );
        assert!(render("{{ settings.modle }}", &ctx).is_err());
        assert_eq!(
            render(
                "{% if settings.model %}x{% endif %}",
                &json!({"settings": {"model": null}})
            )
            .unwrap(),
            ""
        );
        assert!(check_syntax("{{ unclosed").is_err());
    }
}
