with

metrics as (

    select * from {{ ref('stg_monitoring__batch_metrics') }}
    where column_name <> ''

),

monitored_columns as (

    select * from {{ ref('monitored_columns') }}

),

pivoted as (

    select
        batch_date,
        model_version,
        column_name,
        max(case when metric_name = 'drift_score' then metric_value end) as drift_score,
        max(case when metric_name = 'drift_score' then stat_test end) as stat_test,
        max(case when metric_name = 'drift_score' then threshold end) as drift_threshold,
        bool_or(case when metric_name = 'drift_score' then drift_detected end) as drift_detected,
        max(case when metric_name = 'drift_score' then calibrated_threshold end) as calibrated_threshold,
        bool_or(case when metric_name = 'drift_score' then calibrated_drift_detected end) as calibrated_drift_detected,
        max(case when metric_name = 'missing_count' then metric_value end) as missing_count,
        max(case when metric_name = 'missing_share' then metric_value end) as missing_share
    from metrics
    group by batch_date, model_version, column_name

),

final as (

    select
        pivoted.batch_date,
        pivoted.model_version,
        pivoted.column_name,
        monitored_columns.role as column_role,
        pivoted.drift_score,
        pivoted.stat_test,
        pivoted.drift_threshold,
        pivoted.drift_detected,
        pivoted.calibrated_threshold,
        pivoted.calibrated_drift_detected,
        pivoted.missing_count,
        pivoted.missing_share
    from pivoted
    left join monitored_columns on pivoted.column_name = monitored_columns.column_name

)

select * from final
