{{ config(materialized="view") }}

{#- The batch system's uptime: per step, its last run and last success, and how far the computed
    metrics reach, so a pipeline that stopped running (or keeps failing) is visible at a glance.
    A view, so it shows runs recorded after the last dbt build (the running step's own end included). -#}
with

runs as (

    select * from {{ ref('stg_monitoring__pipeline_runs') }}

),

batch_metrics as (

    select * from {{ ref('stg_monitoring__batch_metrics') }}

),

batch_dates as (

    select * from {{ ref('int_batch_dates_spined') }}

),

last_runs as (

    select
        step,
        started_at as last_started_at,
        finished_at as last_finished_at,
        status as last_status,
        error as last_error,
        row_number() over (partition by step order by started_at desc, run_id desc) as recency
    from runs

),

per_step as (

    select
        step,
        count(*) as runs,
        cast(sum(case when status = 'failed' then 1 else 0 end) as bigint) as failed_runs,
        max(case when status = 'success' then finished_at end) as last_success_at
    from runs
    group by step

),

coverage as (

    select
        (select max(batch_date) from batch_metrics) as newest_computed_batch_date,
        (select max(batch_date) from batch_dates) as last_production_date,
        (select count(*) from batch_dates) as production_days,
        (select count(distinct batch_date) from batch_metrics) as computed_days

),

final as (

    select
        per_step.step,
        per_step.runs,
        per_step.failed_runs,
        last_runs.last_started_at,
        last_runs.last_finished_at,
        last_runs.last_status,
        last_runs.last_error,
        per_step.last_success_at,
        coverage.newest_computed_batch_date,
        coverage.last_production_date,
        coverage.production_days - coverage.computed_days as days_without_metrics
    from per_step
    inner join last_runs on per_step.step = last_runs.step and last_runs.recency = 1
    cross join coverage

)

select * from final
