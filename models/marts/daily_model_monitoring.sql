{%- set rules = all_rules() -%}
{%- set performance = ['mae', 'rmse', 'mean_error', 'mape', 'r2'] -%}

with

batch_dates as (

    select batch_date from {{ ref('int_batch_dates_spined') }}

),

model_versions as (

    {{ monitored_model_versions() }}

),

batch_stats as (

    select * from {{ ref('int_trips_aggregated') }}
    where split = 'production'

),

reference_stats as (

    select * from {{ ref('int_trips_aggregated') }}
    where split = 'reference'

),

batch_metrics as (

    select * from {{ ref('int_batch_metrics_pivoted') }}

),

performance_estimates as (

    select * from {{ ref('stg_monitoring__performance_estimates') }}

),

segment_disparities as (

    select
        batch_date,
        model_version,
        {%- for segment_type in segment_types() %}
            max(case when segment_type = '{{ segment_type }}' then mae_disparity end)
                as {{ segment_type }}_mae_disparity
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from (
        select
            batch_date,
            model_version,
            segment_type,
            max(mae) / nullif(min(mae), 0) as mae_disparity
        from {{ ref('int_segments_aggregated') }}
        where split = 'production' and performance_trips >= {{ var('min_segment_trips') }}
        group by batch_date, model_version, segment_type
    ) as per_segment_type
    group by batch_date, model_version

),

final as (

    select
        batch_dates.batch_date,
        model_versions.model_version,
        coalesce(batch_stats.trips, 0) as trips,
        coalesce(batch_stats.input_valid_trips, 0) as input_valid_trips,
        coalesce(batch_stats.performance_trips, 0) as performance_trips,
        cast(reference_stats.input_valid_trips as {{ type_double() }})
        / nullif(reference_stats.input_valid_pickup_days, 0) as reference_daily_trips,
        coalesce(batch_stats.input_valid_trips, 0)
        / nullif(
            cast(reference_stats.input_valid_trips as {{ type_double() }}) / reference_stats.input_valid_pickup_days, 0
        ) as volume_ratio_to_reference,
        {%- for rule in rules %}
            batch_stats.share_failing_{{ rule.name }},
        {%- endfor %}
        batch_metrics.monitored_rows,
        batch_metrics.prediction_drift_score,
        batch_metrics.prediction_drift_threshold,
        batch_metrics.prediction_stat_test,
        batch_metrics.prediction_drift_detected,
        batch_metrics.drifted_columns_count,
        batch_metrics.drifted_columns_share,
        batch_metrics.dataset_drift,
        batch_metrics.prediction_calibrated_threshold,
        batch_metrics.prediction_drift_detected_calibrated,
        batch_metrics.prediction_drift_score / nullif(batch_metrics.prediction_calibrated_threshold, 0)
            as prediction_drift_to_calibrated_threshold,
        batch_metrics.drifted_columns_count_calibrated,
        batch_metrics.drifted_columns_share_calibrated,
        batch_metrics.dataset_drift_calibrated,
        batch_metrics.missing_values_share,
        batch_stats.mean_prediction,
        {%- for measure in performance %}
            batch_stats.{{ measure }},
            reference_stats.{{ measure }} as reference_{{ measure }},
        {%- endfor %}
        batch_stats.mae / nullif(reference_stats.mae, 0) as mae_ratio_to_reference,
        -- known before the labels: Direct Loss Estimation's expected MAE (daily_performance_estimates)
        performance_estimates.estimated_mae,
        performance_estimates.estimated_mae / nullif(reference_stats.mae, 0) as estimated_mae_ratio_to_reference,
        {%- for segment_type in segment_types() %}
            segment_disparities.{{ segment_type }}_mae_disparity,
        {%- endfor %}
        batch_metrics.batch_date is not null as metrics_computed,
        coalesce(batch_stats.input_valid_trips, 0) = 0 as is_empty_batch,
        batch_metrics.evidently_version,
        batch_metrics.computed_at
    from batch_dates
    cross join model_versions
    left join batch_stats
        on
            batch_dates.batch_date = batch_stats.batch_date
            and model_versions.model_version = batch_stats.model_version
    left join reference_stats
        on model_versions.model_version = reference_stats.model_version
    left join batch_metrics
        on
            batch_dates.batch_date = batch_metrics.batch_date
            and model_versions.model_version = batch_metrics.model_version
    left join performance_estimates
        on
            batch_dates.batch_date = performance_estimates.batch_date
            and model_versions.model_version = performance_estimates.model_version
    left join segment_disparities
        on
            batch_dates.batch_date = segment_disparities.batch_date
            and model_versions.model_version = segment_disparities.model_version

)

select * from final
