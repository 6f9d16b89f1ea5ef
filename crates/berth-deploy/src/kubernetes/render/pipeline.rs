//! Pipelines: a CronJob per scheduled pipeline and an indexed Job per pipeline for
//! backfills, both running berth's worker image as `berth ingest <pipeline>`.

use super::meta::{self, PIPELINE, RUNS_AS};
use super::pod::{self, PodKind};
use super::{Cx, RenderError, STACK_DIR, STACK_FILE_IN_POD, int32};
use crate::kubernetes::Manifest;
use berth_stack::plan::PlannedPipeline;
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Retries of a pipeline run before it counts as failed (per index for backfills).
const BACKOFF_LIMIT: i32 = 2;
/// CronJob names are at most 52 characters (the controller appends a suffix).
const CRON_JOB_MAX: usize = 52;

/// The CronJob of a pipeline: `ingest-<pipeline>`.
pub(crate) fn cron_job_name(pipeline: &str) -> String {
    format!("ingest-{pipeline}")
}

/// The backfill Job of a pipeline: `backfill-<pipeline>`.
pub(crate) fn backfill_name(pipeline: &str) -> String {
    format!("backfill-{pipeline}")
}

/// The CronJob (when the pipeline has a schedule) and the backfill Job of one pipeline.
pub(crate) fn pipeline(
    cx: &Cx<'_>,
    name: &str,
    planned: &PlannedPipeline,
) -> Result<Vec<Manifest>, RenderError> {
    let Some((worker_name, worker)) = cx.worker else {
        return Err(RenderError::NoWorker {
            pipeline: name.to_string(),
        });
    };
    let command = vec![
        "berth".to_string(),
        "ingest".to_string(),
        name.to_string(),
        "--stack".to_string(),
        format!("{STACK_DIR}/{STACK_FILE_IN_POD}"),
    ];
    let labels = |instance: &str| {
        let mut labels = meta::labels(cx, &worker.uses, instance, "pipeline");
        labels.insert(PIPELINE.to_string(), name.to_string());
        labels
    };
    let pod_labels = |instance: &str| {
        let mut labels = labels(instance);
        labels.extend(meta::selector_labels(cx, instance));
        labels.insert(RUNS_AS.to_string(), worker_name.to_string());
        labels
    };
    let mut out = Vec::new();

    if let Some(schedule) = &planned.schedule {
        let cron_name = cron_job_name(name);
        meta::check_name(&cron_name, CRON_JOB_MAX)?;
        let template = pod::template(
            cx,
            worker_name,
            worker,
            pod_labels(&cron_name),
            PodKind::Pipeline { command: &command },
        )?;
        let object = CronJob {
            metadata: meta::object_meta(cx, &cron_name, labels(&cron_name)),
            spec: Some(CronJobSpec {
                schedule: schedule.clone(),
                // A run still going when the next is due is not doubled.
                concurrency_policy: Some("Forbid".to_string()),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels(&cron_name)),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(JobSpec {
                        backoff_limit: Some(BACKOFF_LIMIT),
                        template,
                        ..JobSpec::default()
                    }),
                },
                ..CronJobSpec::default()
            }),
            ..CronJob::default()
        };
        out.push(Cx::manifest("CronJob", &cron_name, &object)?);
    }

    let backfill = backfill_name(name);
    meta::check_name(&backfill, meta::LABEL_MAX)?;
    let parallelism = cx.options.backfill_parallelism;
    let completions = cx.options.backfill_completions.unwrap_or(parallelism);
    let template = pod::template(
        cx,
        worker_name,
        worker,
        pod_labels(&backfill),
        PodKind::Pipeline { command: &command },
    )?;
    let object = Job {
        metadata: meta::object_meta(cx, &backfill, labels(&backfill)),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_string()),
            completions: Some(int32(name, "backfill completions", u64::from(completions))?),
            parallelism: Some(int32(name, "backfill parallelism", u64::from(parallelism))?),
            backoff_limit_per_index: Some(BACKOFF_LIMIT),
            suspend: Some(cx.options.backfill_suspended),
            template,
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    out.push(Cx::manifest("Job", &backfill, &object)?);
    Ok(out)
}
