//! Compatibility: does each GPU component fit some node of the declared inventory —
//! vendor, GPU count, GPU memory for its model, driver and CUDA versions? Found at plan
//! time, before anything starts.

use super::{Cx, Instance};
use crate::catalog::{CatalogEntry, GpuMemoryRule};
use crate::diagnostic::Severity;
use crate::stack::InventoryNode;
use crate::units::parse_param_count;
use crate::yaml::Span;
use std::collections::BTreeMap;

/// Estimated GPU memory of a component's model, in GiB, and how it was estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    /// Total GiB needed across the component's GPUs.
    pub gib: f64,
    /// Parameters of the model.
    pub params: f64,
    /// Bytes per parameter used.
    pub bytes_per_param: f64,
}

/// Bytes per parameter for a precision or quantisation name.
pub fn bytes_per_param(precision: &str) -> Option<f64> {
    let p = precision.to_ascii_lowercase();
    Some(match p.as_str() {
        "float32" | "fp32" | "f32" => 4.0,
        "bfloat16" | "bf16" | "float16" | "fp16" | "f16" | "half" => 2.0,
        "fp8" | "int8" | "q8" | "q8_0" | "8bit" | "bitsandbytes" | "eetq" => 1.0,
        "int4" | "q4" | "q4_0" | "q4_k_m" | "awq" | "gptq" | "4bit" | "bitsandbytes-nf4"
        | "bitsandbytes-fp4" | "marlin" | "exl2" => 0.5,
        _ => return None,
    })
}

/// Estimates the GPU memory a component needs from the catalog's rule and its settings.
pub fn estimate(
    rule: &GpuMemoryRule,
    settings: &BTreeMap<String, serde_json::Value>,
) -> Option<MemoryEstimate> {
    let text = |k: &str| settings.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let params = text("params")
        .as_deref()
        .and_then(parse_param_count)
        .or_else(|| {
            text(&rule.model_setting)
                .as_deref()
                .and_then(parse_param_count)
        })?;
    let bpp = rule
        .precision_setting
        .as_deref()
        .and_then(text)
        .as_deref()
        .and_then(bytes_per_param)
        .unwrap_or(rule.bytes_per_param);
    let gib = params * bpp * (1.0 + rule.headroom) / f64::from(1u32 << 30) + rule.overhead_gib;
    Some(MemoryEstimate {
        gib,
        params,
        bytes_per_param: bpp,
    })
}

struct Reason {
    code: &'static str,
    message: String,
    span: Span,
}

pub(super) fn check(cx: &mut Cx<'_>, instances: &BTreeMap<String, Instance<'_>>) {
    let inventory = cx.stack.inventory.as_ref();
    let mut requested = 0u32;
    for inst in instances.values() {
        let entry = inst.entry();
        let Some(acc) = &entry.accelerator else {
            continue;
        };
        if inst.external.is_some() {
            continue;
        }
        let gpus = inst.resources.gpu;
        if gpus == 0 {
            if !acc.optional {
                cx.error(
                    resources_span(inst),
                    format!(
                        "component `{}` ({}) cannot run without a GPU, but requests none",
                        inst.name, entry.name.value
                    ),
                )
                .help = Some("request one with `resources: { gpu: 1 }`".to_string());
            }
            continue;
        }
        let replicas = inst
            .spec
            .and_then(|s| s.replicas.as_ref())
            .map(|r| r.value)
            .unwrap_or(1);
        requested += gpus * replicas;
        let estimate = entry
            .gpu_memory
            .as_ref()
            .and_then(|r| estimate(r, &inst.settings));
        let model_given = entry.gpu_memory.as_ref().is_some_and(|r| {
            inst.settings
                .get(&r.model_setting)
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        });
        // An unset model is reported as a missing setting already.
        if model_given && estimate.is_none() {
            cx.finding(
                Severity::Warning,
                "gpu-memory-unknown",
                Some(&inst.name),
                model_span(inst, entry),
                format!(
                    "cannot tell the size of the model of `{}`; its GPU memory is not checked",
                    inst.name
                ),
                Some("use a model id that states its size (`…-7B-…`), or give `params: 7B` if the entry has that setting".to_string()),
            );
        }
        let Some(inventory) = inventory else {
            cx.finding(
                Severity::Info,
                "no-inventory",
                Some(&inst.name),
                inst.span,
                format!(
                    "`{}` needs {gpus} GPU(s){}; no `inventory` is declared, so fit is not checked",
                    inst.name,
                    estimate.as_ref().map(|e| format!(" and ≈{:.1} GiB of GPU memory", e.gib)).unwrap_or_default()
                ),
                Some("declare `inventory: { nodes: [...] }` to check GPUs, memory and drivers at plan time".to_string()),
            );
            continue;
        };
        // The closest node: fewest reasons, then the most GPU memory.
        let mut best: Option<(&InventoryNode, Vec<Reason>, u64)> = None;
        for node in &inventory.value.nodes {
            let reasons = node_reasons(inst, entry, node, gpus, estimate.as_ref());
            if reasons.is_empty() {
                cx.finding(
                    Severity::Info,
                    "gpu-fit",
                    Some(&inst.name),
                    inst.span,
                    format!(
                        "`{}` fits node `{}`{}",
                        inst.name,
                        node.name.value,
                        estimate
                            .as_ref()
                            .map(|e| format!(" (needs ≈{:.1} GiB of GPU memory)", e.gib))
                            .unwrap_or_default()
                    ),
                    None,
                );
                best = None;
                break;
            }
            let memory = node
                .gpus
                .iter()
                .map(|g| g.memory.0 * u64::from(g.count))
                .max()
                .unwrap_or(0);
            let closer = best.as_ref().is_none_or(|(_, r, m)| {
                reasons.len() < r.len() || (reasons.len() == r.len() && memory > *m)
            });
            if closer {
                best = Some((node, reasons, memory));
            }
        }
        if inventory.value.nodes.is_empty() {
            cx.error(
                inventory.span,
                format!(
                    "`{}` needs {gpus} GPU(s), and the inventory has no nodes",
                    inst.name
                ),
            );
            continue;
        }
        if let Some((node, reasons, _)) = best {
            let prefix = if inventory.value.nodes.len() > 1 {
                format!(
                    "no node fits `{}`; the closest, `{}`",
                    inst.name, node.name.value
                )
            } else {
                format!("`{}` does not fit node `{}`", inst.name, node.name.value)
            };
            for r in reasons {
                cx.finding(
                    Severity::Error,
                    r.code,
                    Some(&inst.name),
                    r.span,
                    format!("{prefix}: {}", r.message),
                    None,
                );
            }
        }
    }
    if let Some(inventory) = inventory {
        let total: u32 = inventory
            .value
            .nodes
            .iter()
            .flat_map(|n| &n.gpus)
            .map(|g| g.count)
            .sum();
        if requested > total {
            cx.finding(
                Severity::Warning,
                "gpu-capacity",
                None,
                inventory.span,
                format!("the stack requests {requested} GPUs in all; the inventory has {total}"),
                Some(
                    "some components will wait for a GPU; reduce replicas or add nodes".to_string(),
                ),
            );
        }
    }
}

fn node_reasons(
    inst: &Instance<'_>,
    entry: &CatalogEntry,
    node: &InventoryNode,
    gpus: u32,
    estimate: Option<&MemoryEstimate>,
) -> Vec<Reason> {
    let Some(acc) = &entry.accelerator else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    let usable: Vec<_> = node
        .gpus
        .iter()
        .filter(|g| acc.vendors.contains(&g.vendor))
        .collect();
    if usable.is_empty() {
        let found: Vec<String> = node.gpus.iter().map(|g| g.vendor.to_string()).collect();
        let vendors: Vec<String> = acc.vendors.iter().map(|v| v.to_string()).collect();
        reasons.push(Reason {
            code: "gpu-vendor",
            message: if found.is_empty() {
                "the node has no GPU".to_string()
            } else {
                format!(
                    "the image supports {} GPUs; the node has {}",
                    vendors.join(" or "),
                    found.join(", ")
                )
            },
            span: inst.spec.map(|s| s.uses.span).unwrap_or(inst.span),
        });
        return reasons;
    }
    let group = usable
        .iter()
        .filter(|g| g.count >= gpus)
        .max_by_key(|g| g.memory)
        .or_else(|| usable.iter().max_by_key(|g| g.count))
        .expect("usable is not empty");
    if group.count < gpus {
        reasons.push(Reason {
            code: "gpu-count",
            message: format!("it needs {gpus} GPUs; the node has {}", group.count),
            span: resources_span(inst),
        });
    }
    if let Some(e) = estimate {
        let available = group.memory.gib() * f64::from(gpus.min(group.count));
        if e.gib > available {
            reasons.push(Reason {
                code: "gpu-memory",
                message: format!(
                    "its model needs ≈{:.1} GiB of GPU memory ({:.1}B parameters × {} bytes, with headroom); {} × {} gives {:.1} GiB",
                    e.gib,
                    e.params / 1e9,
                    e.bytes_per_param,
                    gpus.min(group.count),
                    group.model.clone().unwrap_or_else(|| format!("{:.0} GiB GPU", group.memory.gib())),
                    available
                ),
                span: model_span(inst, entry),
            });
        }
    }
    let uses_span = inst.spec.map(|s| s.uses.span).unwrap_or(inst.span);
    if let (Some(min), Some(driver)) = (&acc.min_driver, &node.driver)
        && !driver.value.at_least(min)
    {
        reasons.push(Reason {
            code: "gpu-driver",
            message: format!(
                "its image needs driver {min} or newer; the node has {}",
                driver.value
            ),
            span: uses_span,
        });
    }
    if let (Some(min), Some(cuda)) = (&acc.min_cuda, &node.cuda)
        && !cuda.value.at_least(min)
    {
        reasons.push(Reason {
            code: "gpu-cuda",
            message: format!(
                "its image is built for CUDA {min}; the node's driver supports CUDA {}",
                cuda.value
            ),
            span: uses_span,
        });
    }
    reasons
}

fn resources_span(inst: &Instance<'_>) -> Span {
    inst.spec
        .and_then(|s| s.resources.as_ref().map(|r| r.span))
        .unwrap_or(inst.span)
}

fn model_span(inst: &Instance<'_>, entry: &CatalogEntry) -> Span {
    let setting = entry
        .gpu_memory
        .as_ref()
        .map(|r| r.model_setting.as_str())
        .unwrap_or("model");
    inst.spec
        .and_then(|s| s.with.get(setting).map(|n| n.span))
        .unwrap_or(inst.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_rule() {
        let rule = GpuMemoryRule {
            model_setting: "model".into(),
            bytes_per_param: 2.0,
            precision_setting: Some("dtype".into()),
            headroom: 0.25,
            overhead_gib: 2.0,
        };
        let mut s = BTreeMap::new();
        s.insert(
            "model".to_string(),
            serde_json::json!("Qwen/Qwen2.5-7B-Instruct"),
        );
        let e = estimate(&rule, &s).unwrap();
        let want = 7e9 * 2.0 * 1.25 / f64::from(1u32 << 30) + 2.0;
        assert!((e.gib - want).abs() < 1e-9);
        s.insert("dtype".to_string(), serde_json::json!("fp8"));
        assert_eq!(estimate(&rule, &s).unwrap().bytes_per_param, 1.0);
        s.insert("model".to_string(), serde_json::json!("some/unsized-model"));
        assert!(estimate(&rule, &s).is_none());
    }
}
