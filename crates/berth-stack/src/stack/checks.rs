//! Checks of a stack file that need nothing but the file itself: shapes that serde cannot
//! express (exactly one of two keys, settings that only apply to one kind) and the syntax
//! of `${…}` references.

use super::{AppKind, ChunkStrategy, StackFile};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::text::Text;
use crate::yaml::{Node, NodeKind, Span, Spanned};

pub(super) fn check(file: &StackFile, diags: &mut Diagnostics) {
    let err = |span: Span, msg: String| Diagnostic::error(&file.file, span, msg);
    for s in reference_strings(file) {
        if let Err(e) = Text::parse(&s.value) {
            diags.push(err(shift(file, s.span, e.offset), e.message).with_help(e.help));
        }
    }
    for (name, component) in &file.components {
        if let Some(r) = &component.replicas
            && r.value == 0
        {
            diags.push(
                err(
                    r.span,
                    format!("component `{name}`: `replicas` must be at least 1"),
                )
                .with_help("remove the component to run none of it"),
            );
        }
        for port in component.ports.values() {
            if port.value == 0 {
                diags.push(err(
                    port.span,
                    format!("component `{name}`: host port 0 is not a port; use 1-65535"),
                ));
            }
        }
        for key in component.env.keys() {
            let ok = !key.value.is_empty()
                && key
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !key.value.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                diags.push(err(
                    key.span,
                    format!("`{}` is not a valid environment variable name", key.value),
                ));
            }
        }
    }
    for (name, routes) in &file.models {
        if routes.value.is_empty() {
            diags.push(
                err(routes.span, format!("model `{name}` has no routes"))
                    .with_help("list at least one `- component: …` or `- provider: …`"),
            );
        }
        for route in &routes.value {
            check_route(file, name.value.as_str(), route, routes.span, diags);
        }
    }
    for (name, source) in &file.sources {
        match (&source.path, &source.urls) {
            (Some(_), Some(urls)) => diags.push(err(
                urls.span,
                format!("source `{name}` has both `path` and `urls`; give one"),
            )),
            (None, None) => diags.push(
                err(
                    name.span,
                    format!("source `{name}` has neither `path` nor `urls`"),
                )
                .with_help("give `path: ./docs` or `urls: [https://…]`"),
            ),
            _ => {}
        }
        if source.path.is_none()
            && let Some(first) = source.include.first().or(source.exclude.first())
        {
            diags.push(err(
                first.span,
                format!("source `{name}`: `include` and `exclude` apply to `path` sources only"),
            ));
        }
        for url in source.urls.iter().flat_map(|u| &u.value) {
            let checkable = !url.value.starts_with("${env:");
            if checkable && !(url.value.starts_with("http://") || url.value.starts_with("https://"))
            {
                diags.push(err(
                    url.span,
                    format!("source `{name}`: `{}` is not an http(s) URL", url.value),
                ));
            }
        }
        for glob in source.include.iter().chain(&source.exclude) {
            if let Some(msg) = glob_problem(&glob.value) {
                diags.push(err(glob.span, format!("source `{name}`: {msg}")));
            }
        }
    }
    for (name, pipeline) in &file.pipelines {
        if let Some(chunk) = &pipeline.chunk {
            check_chunk(file, name.value.as_str(), chunk, diags);
        }
        if let Some(schedule) = &pipeline.schedule
            && let Err(msg) = check_cron(&schedule.value)
        {
            diags.push(
                    err(schedule.span, format!("pipeline `{name}`: {msg}"))
                        .with_help("use five cron fields: minute hour day-of-month month day-of-week, e.g. `*/15 * * * *`"),
                );
        }
    }
    for (name, app) in &file.apps {
        check_app(file, name.value.as_str(), app, diags);
    }
}

fn check_route(
    file: &StackFile,
    model: &str,
    route: &super::RouteSpec,
    list_span: Span,
    diags: &mut Diagnostics,
) {
    let err = |span: Span, msg: String| Diagnostic::error(&file.file, span, msg);
    match (&route.component, &route.provider) {
        (Some(c), Some(_)) => diags.push(err(
            c.span,
            format!("model `{model}`: a route has both `component` and `provider`; give one"),
        )),
        (None, None) => diags.push(
            err(
                list_span,
                format!("model `{model}`: a route names neither `component` nor `provider`"),
            )
            .with_help(
                "write `- component: llm` (a component of this stack) or `- provider: openai`",
            ),
        ),
        (Some(c), None) => {
            for (key, value) in [("base_url", &route.base_url), ("api_key", &route.api_key)] {
                if let Some(v) = value {
                    diags.push(err(
                        v.span,
                        format!(
                            "model `{model}`: `{key}` applies to provider routes; component `{}` is reached inside the stack",
                            c.value
                        ),
                    ));
                }
            }
        }
        (None, Some(p)) => {
            if route.model.is_none() {
                diags.push(
                    err(
                        p.span,
                        format!("model `{model}`: provider routes need `model`"),
                    )
                    .with_help("name the provider's model, e.g. `model: gpt-4o-mini`"),
                );
            }
        }
    }
    if let Some(key) = &route.api_key {
        // Never echo the value: it may be a real key pasted by mistake.
        let is_ref = Text::parse(&key.value)
            .ok()
            .is_some_and(|t| t.as_single_secret().is_some());
        if !is_ref {
            diags.push(
                err(
                    key.span,
                    format!("model `{model}`: `api_key` must be a secret reference, not a value"),
                )
                .with_help("write `api_key: ${secret:NAME}` and provide NAME as an environment variable or secret"),
            );
        }
    }
    if let Some(w) = &route.weight
        && w.value == 0
    {
        diags.push(err(
            w.span,
            format!("model `{model}`: `weight` must be at least 1"),
        ));
    }
}

fn check_chunk(
    file: &StackFile,
    pipeline: &str,
    chunk: &super::ChunkSpec,
    diags: &mut Diagnostics,
) {
    let err = |span: Span, msg: String| Diagnostic::error(&file.file, span, msg);
    let strategy = chunk.strategy.value;
    let name = serde_json::to_value(strategy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let only = |present: Option<Span>,
                key: &str,
                applies: ChunkStrategy,
                diags: &mut Diagnostics| {
        if let Some(span) = present
            && strategy != applies
        {
            diags.push(err(
                span,
                format!("pipeline `{pipeline}`: `{key}` does not apply to the `{name}` strategy"),
            ));
        }
    };
    only(
        chunk.separators.as_ref().map(|s| s.span),
        "separators",
        ChunkStrategy::Separator,
        diags,
    );
    only(
        chunk.window.as_ref().map(|s| s.span),
        "window",
        ChunkStrategy::SentenceWindow,
        diags,
    );
    only(
        chunk.parent_max_tokens.as_ref().map(|s| s.span),
        "parent_max_tokens",
        ChunkStrategy::ParentChild,
        diags,
    );
    if strategy == ChunkStrategy::Separator
        && chunk.separators.as_ref().is_none_or(|s| s.value.is_empty())
    {
        diags.push(err(
            chunk.strategy.span,
            format!("pipeline `{pipeline}`: the `separator` strategy needs `separators`"),
        ));
    }
    let max = chunk.max_tokens.as_ref().map(|m| m.value).unwrap_or(400);
    if let Some(m) = &chunk.max_tokens
        && m.value < 8
    {
        diags.push(err(
            m.span,
            format!("pipeline `{pipeline}`: `max_tokens` must be at least 8"),
        ));
    }
    if let Some(o) = &chunk.overlap
        && o.value >= max
    {
        diags.push(
                err(
                    o.span,
                    format!(
                        "pipeline `{pipeline}`: `overlap` ({}) must be smaller than `max_tokens` ({max})",
                        o.value
                    ),
                )
                .with_help("a common choice is a tenth of `max_tokens`"),
            );
    }
    if let Some(p) = &chunk.parent_max_tokens
        && p.value <= max
    {
        diags.push(err(
                p.span,
                format!(
                    "pipeline `{pipeline}`: `parent_max_tokens` ({}) must be larger than `max_tokens` ({max})",
                    p.value
                ),
            ));
    }
}

fn check_app(file: &StackFile, name: &str, app: &super::AppSpec, diags: &mut Diagnostics) {
    let err = |span: Span, msg: String| Diagnostic::error(&file.file, span, msg);
    let kind = app.kind.value;
    let kind_name = match kind {
        AppKind::Rag => "rag",
        AppKind::Text2sql => "text2sql",
        AppKind::Chat => "chat",
    };
    let fields: [(&str, Option<Span>, &[AppKind]); 8] = [
        (
            "pipeline",
            app.pipeline.as_ref().map(|v| v.span),
            &[AppKind::Rag],
        ),
        ("top_k", app.top_k.as_ref().map(|v| v.span), &[AppKind::Rag]),
        (
            "rerank",
            app.rerank.as_ref().map(|v| v.span),
            &[AppKind::Rag],
        ),
        (
            "database",
            app.database.as_ref().map(|v| v.span),
            &[AppKind::Text2sql],
        ),
        (
            "descriptions",
            app.descriptions.as_ref().map(|v| v.span),
            &[AppKind::Text2sql],
        ),
        (
            "max_rows",
            app.max_rows.as_ref().map(|v| v.span),
            &[AppKind::Text2sql],
        ),
        (
            "knowledge",
            app.knowledge.as_ref().map(|v| v.span),
            &[AppKind::Chat],
        ),
        ("system_prompt", None, &[AppKind::Chat]),
    ];
    for (key, span, kinds) in fields {
        if let Some(span) = span
            && !kinds.contains(&kind)
        {
            diags.push(err(
                span,
                format!("app `{name}`: `{key}` does not apply to {kind_name} apps"),
            ));
        }
    }
    if app.system_prompt.is_some() && kind != AppKind::Chat {
        diags.push(err(
            app.kind.span,
            format!("app `{name}`: `system_prompt` applies to chat apps only"),
        ));
    }
    let require = |present: bool, key: &str, example: &str, diags: &mut Diagnostics| {
        if !present {
            diags.push(
                err(
                    app.kind.span,
                    format!("app `{name}`: {kind_name} apps need `{key}`"),
                )
                .with_help(format!("add `{key}: {example}`")),
            );
        }
    };
    match kind {
        AppKind::Rag => require(app.pipeline.is_some(), "pipeline", "<pipeline name>", diags),
        AppKind::Text2sql => {
            require(
                app.database.is_some(),
                "database",
                "${secret:DATABASE_URL}",
                diags,
            );
            require(app.model.is_some(), "model", "<model name>", diags);
        }
        AppKind::Chat => require(app.model.is_some(), "model", "<model name>", diags),
    }
    if let Some(k) = &app.top_k
        && (k.value == 0 || k.value > 1000)
    {
        diags.push(err(
            k.span,
            format!("app `{name}`: `top_k` must be between 1 and 1000"),
        ));
    }
    if let Some(r) = &app.max_rows
        && r.value == 0
    {
        diags.push(err(
            r.span,
            format!("app `{name}`: `max_rows` must be at least 1"),
        ));
    }
}

/// Strings that may hold `${secret:…}` / `${env:…}` references, with their spans.
pub(super) fn reference_strings(file: &StackFile) -> Vec<Spanned<String>> {
    fn walk(node: &Node, out: &mut Vec<Spanned<String>>) {
        match &node.kind {
            NodeKind::Str(s) => out.push(Spanned::new(s.clone(), node.span)),
            NodeKind::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for c in file.components.values() {
        c.with.values().for_each(|n| walk(n, &mut out));
        out.extend(c.env.values().cloned());
        out.extend(c.url.iter().cloned());
    }
    for routes in file.models.values() {
        for r in &routes.value {
            out.extend(r.base_url.iter().cloned());
            out.extend(r.api_key.iter().cloned());
        }
    }
    for s in file.sources.values() {
        out.extend(s.path.iter().cloned());
        out.extend(s.urls.iter().flat_map(|u| u.value.iter().cloned()));
    }
    for a in file.apps.values() {
        out.extend(a.database.iter().cloned());
    }
    out
}

/// The span of a byte offset inside a scalar, stepping over an opening quote.
fn shift(file: &StackFile, span: Span, offset: usize) -> Span {
    let quoted = file
        .source
        .get(span.offset..)
        .is_some_and(|s| s.starts_with('"') || s.starts_with('\''));
    let text_start = span.offset + usize::from(quoted);
    let chars = file
        .source
        .get(text_start..text_start + offset)
        .map(|s| s.chars().count())
        .unwrap_or(offset);
    Span {
        line: span.line,
        column: span.column + u32::from(quoted) + chars as u32,
        offset: text_start + offset,
        len: 2,
    }
}

fn glob_problem(glob: &str) -> Option<String> {
    let opens = glob.matches('[').count();
    let closes = glob.matches(']').count();
    let braces = glob.matches('{').count() == glob.matches('}').count();
    if glob.is_empty() {
        Some("an empty glob matches nothing".to_string())
    } else if opens != closes || !braces {
        Some(format!("`{glob}` is not a valid glob: unbalanced brackets"))
    } else if glob.starts_with('/') {
        Some(format!(
            "`{glob}` is absolute; globs are relative to the source path"
        ))
    } else {
        None
    }
}

/// Checks a five-field cron expression.
fn check_cron(expr: &str) -> Result<(), String> {
    const FIELDS: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of month", 1, 31),
        ("month", 1, 12),
        ("day of week", 0, 7),
    ];
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!(
            "schedule `{expr}` has {} fields, expected 5",
            parts.len()
        ));
    }
    for (part, (field, lo, hi)) in parts.iter().zip(FIELDS) {
        for item in part.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n > 0 => {}
                    _ => {
                        return Err(format!(
                            "schedule `{expr}`: bad step `{step}` in the {field} field"
                        ));
                    }
                }
            }
            if range == "*" {
                continue;
            }
            let bounds: Vec<&str> = range.split('-').collect();
            if bounds.len() > 2 {
                return Err(format!(
                    "schedule `{expr}`: bad range `{range}` in the {field} field"
                ));
            }
            if let [Ok(a), Ok(b)] = [
                bounds[0].parse::<u32>(),
                bounds[bounds.len() - 1].parse::<u32>(),
            ] && a > b
            {
                return Err(format!(
                    "schedule `{expr}`: range `{range}` in the {field} field runs backwards"
                ));
            }
            for b in &bounds {
                match b.parse::<u32>() {
                    Ok(n) if (lo..=hi).contains(&n) => {}
                    _ => {
                        return Err(format!(
                            "schedule `{expr}`: `{b}` is not a valid {field} ({lo}-{hi})"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_cron;

    #[test]
    fn cron_expressions() {
        assert!(check_cron("*/15 * * * *").is_ok());
        assert!(check_cron("0 2 * * 1-5").is_ok());
        assert!(check_cron("0,30 8-18/2 1 1,6 0").is_ok());
        assert!(check_cron("* * * *").is_err());
        assert!(check_cron("60 * * * *").is_err());
        assert!(check_cron("*/0 * * * *").is_err());
        assert!(check_cron("0 0 * * MON").is_err());
        assert!(check_cron("0 5-3 * * *").is_err());
    }
}
