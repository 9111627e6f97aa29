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
        {{ pivot_batch_metrics([
            {'metric': 'drift_score', 'fields': {
                'metric_value': 'drift_score',
                'stat_test': 'stat_test',
                'threshold': 'drift_threshold',
                'drift_detected': 'drift_detected',
                'calibrated_threshold': 'calibrated_threshold',
                'calibrated_drift_detected': 'calibrated_drift_detected',
            }},
            'missing_count',
            'missing_share',
        ]) }}
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
