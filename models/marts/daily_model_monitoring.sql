{%- set rules = all_rules() -%}

with

batch_dates as (

    select batch_date from {{ ref('int_batch_dates_spined') }}

),

model_versions as (

    select model_version from {{ ref('stg_model__model_versions') }}

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

final as (

    select
        batch_dates.batch_date,
        model_versions.model_version,
        coalesce(batch_stats.trips, 0) as trips,
        coalesce(batch_stats.input_valid_trips, 0) as input_valid_trips,
        coalesce(batch_stats.performance_trips, 0) as performance_trips,
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
        batch_metrics.missing_values_share,
        batch_stats.mean_prediction,
        batch_stats.mae,
        batch_stats.rmse,
        reference_stats.mae as reference_mae,
        reference_stats.rmse as reference_rmse,
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

)

select * from final
