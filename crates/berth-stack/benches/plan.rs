//! Plan time for a generated 200-component stack (target: under 100 ms).
//!
//! The stack uses the built-in catalog the way a large deployment would: 50 vLLM servers,
//! 50 TEI embedders, 50 Qdrant stores, 49 Open WebUI front ends bound to the gateway and
//! one PostgreSQL, with 50 models, 50 sources, 50 pipelines, 50 apps and a 50-node GPU
//! inventory. Measured: reading the stack file plus resolving it into a Plan; loading the
//! built-in catalog is measured on its own.
//!
//! Run: `cargo bench -p berth-stack --bench plan`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use berth_stack::catalog::Catalog;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A stack file with `n` groups of (vLLM, TEI, Qdrant, Open WebUI), plus PostgreSQL.
pub fn generated_stack(n: usize, target: &str) -> String {
    let mut s = format!("stack: big\ntarget: {target}\ninventory:\n  nodes:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - {{ name: gpu-{i}, gpus: [{{ vendor: nvidia, memory: 80Gi, count: 1 }}], driver: \"560.35\", cuda: \"12.6\" }}\n"
        ));
    }
    s.push_str(
        "components:\n  state: { uses: postgres, with: { password: \"${secret:PG_PASSWORD}\" } }\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  llm-{i}: {{ uses: vllm, with: {{ model: Qwen/Qwen2.5-7B-Instruct }}, resources: {{ gpu: 1 }} }}\n  \
             emb-{i}: {{ uses: text-embeddings-inference, with: {{ model: BAAI/bge-small-en-v1.5 }} }}\n  \
             vec-{i}: {{ uses: qdrant }}\n"
        ));
        if i + 1 < n {
            s.push_str(&format!(
                "  ui-{i}: {{ uses: open-webui, bind: {{ openai-chat: gateway }} }}\n"
            ));
        }
    }
    s.push_str("models:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  chat-{i}:\n    - component: llm-{i}\n    - {{ provider: openai, model: gpt-4o-mini, api_key: \"${{secret:OPENAI_API_KEY}}\" }}\n  embed-{i}:\n    - component: emb-{i}\n"
        ));
    }
    s.push_str("sources:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  docs-{i}: {{ path: ./docs/{i}, include: [\"**/*.md\"] }}\n"
        ));
    }
    s.push_str("pipelines:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  index-{i}: {{ source: docs-{i}, embed: embed-{i}, store: vec-{i}, chunk: {{ strategy: recursive, max_tokens: 300 }} }}\n"
        ));
    }
    s.push_str("apps:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  ask-{i}: {{ kind: rag, pipeline: index-{i}, model: chat-{i} }}\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::builtin().expect("built-in catalog");
    for target in ["kubernetes", "local"] {
        let text = generated_stack(50, target);
        let (file, diags) = StackFile::parse("big.yaml", &text);
        assert!(diags.is_empty(), "{diags}");
        let plan = resolve(&file.unwrap(), &catalog, &Environment::default())
            .expect("resolves")
            .plan;
        assert_eq!(
            plan.components.len(),
            202,
            "200 components, the gateway and the worker"
        );
        c.bench_function(&format!("plan_200_components_{target}"), |b| {
            b.iter(|| {
                let (file, _) = StackFile::parse("big.yaml", black_box(&text));
                black_box(resolve(&file.unwrap(), &catalog, &Environment::default()).unwrap())
            })
        });
    }
    c.bench_function("load_builtin_catalog", |b| {
        b.iter(|| black_box(Catalog::builtin().unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
