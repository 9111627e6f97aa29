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
        max(case when metric_name = 'row_count' then metric_value end) as monitored_rows,
        max(case when metric_name = 'missing_values_share' then metric_value end) as missing_values_share,
        max(case when metric_name = 'drifted_columns_count' then metric_value end) as drifted_columns_count,
        max(case when metric_name = 'drifted_columns_share' then metric_value end) as drifted_columns_share,
        bool_or(case when metric_name = 'dataset_drift' then drift_detected end) as dataset_drift,
        max(case when metric_name = 'drifted_columns_count_calibrated' then metric_value end)
            as drifted_columns_count_calibrated,
        max(case when metric_name = 'drifted_columns_share_calibrated' then metric_value end)
            as drifted_columns_share_calibrated,
        bool_or(case when metric_name = 'dataset_drift_calibrated' then drift_detected end) as dataset_drift_calibrated,
        max(case when metric_name = 'drift_score' and column_name = '{{ prediction }}' then metric_value end)
            as prediction_drift_score,
        max(case when metric_name = 'drift_score' and column_name = '{{ prediction }}' then threshold end)
            as prediction_drift_threshold,
        max(case when metric_name = 'drift_score' and column_name = '{{ prediction }}' then stat_test end)
            as prediction_stat_test,
        bool_or(case when metric_name = 'drift_score' and column_name = '{{ prediction }}' then drift_detected end)
            as prediction_drift_detected,
        max(case when metric_name = 'drift_score' and column_name = '{{ prediction }}' then calibrated_threshold end)
            as prediction_calibrated_threshold,
        bool_or(
            case
                when metric_name = 'drift_score' and column_name = '{{ prediction }}' then calibrated_drift_detected
            end
        ) as prediction_drift_detected_calibrated,
        max(evidently_version) as evidently_version,
        max(computed_at) as computed_at
    from metrics
    group by batch_date, model_version

),

final as (

    select * from pivoted

)

select * from final
