{#- The dataset-level Evidently metrics and the prediction's drift, one row per batch date and model version. -#}
{%- set prediction = var('prediction_column') -%}

with

metrics as (

    select * from {{ ref('stg_monitoring__batch_metrics') }}

),

pivoted as (

    select
        batch_date,
        model_version,
        {{ pivot_batch_metrics([
            {'metric': 'row_count', 'as': 'monitored_rows'},
            'missing_values_share',
            'drifted_columns_count',
            'drifted_columns_share',
            {'metric': 'dataset_drift', 'fields': {'drift_detected': 'dataset_drift'}},
            'drifted_columns_count_calibrated',
            'drifted_columns_share_calibrated',
            {'metric': 'dataset_drift_calibrated', 'fields': {'drift_detected': 'dataset_drift_calibrated'}},
            {'metric': 'drift_score', 'column': prediction, 'fields': {
                'metric_value': 'prediction_drift_score',
                'threshold': 'prediction_drift_threshold',
                'stat_test': 'prediction_stat_test',
                'drift_detected': 'prediction_drift_detected',
                'calibrated_threshold': 'prediction_calibrated_threshold',
                'calibrated_drift_detected': 'prediction_drift_detected_calibrated',
            }},
        ]) }},
        max(evidently_version) as evidently_version,
        max(computed_at) as computed_at
    from metrics
    group by batch_date, model_version

),

final as (

    select * from pivoted

)

select * from final
