//! `berth init`.

use crate::Outcome;
use crate::cli::{InitArgs, Template};
use crate::report::UserError;
use anyhow::Context as _;

/// The text of each template.
pub(crate) fn template_text(t: Template) -> &'static str {
    match t {
        Template::Quickstart => include_str!("../../templates/quickstart.yaml"),
        Template::Rag => include_str!("../../templates/rag.yaml"),
        Template::Text2sql => include_str!("../../templates/text2sql.yaml"),
        Template::Kubernetes => include_str!("../../templates/kubernetes.yaml"),
    }
}

pub(crate) fn run(args: &InitArgs) -> anyhow::Result<Outcome> {
    let path = args.dir.join("berth.yaml");
    if path.exists() && !args.force {
        return Err(UserError(format!(
            "{} already exists (use --force to overwrite it)",
            path.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    std::fs::write(&path, template_text(args.template))
        .with_context(|| format!("writing {}", path.display()))?;
    if matches!(args.template, Template::Quickstart) {
        let docs = args.dir.join("docs");
        if !docs.exists() {
            std::fs::create_dir_all(&docs)
                .with_context(|| format!("creating {}", docs.display()))?;
        }
    }
    println!(
        "wrote {}; next: berth validate {}",
        path.display(),
        args.dir.display()
    );
    Ok(Outcome::Ok)
}
