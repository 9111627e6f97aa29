{#- Each day's metrics checked against seeds/metric_thresholds.csv: 'fail' beyond the fail threshold,
    'warn' beyond the warn threshold, 'pass' otherwise, 'no_data' when the day has no value (an empty
    batch, or metrics not computed yet). A test without a fail threshold is a diagnostic: `warn` at most. -#}
with

metrics as (

    select * from {{ ref('daily_metric_trends') }}

),

thresholds as (

    select * from {{ ref('metric_thresholds') }}

),

final as (

    select
        metrics.batch_date,
        metrics.model_version,
        thresholds.test_name,
        thresholds.metric_name,
        thresholds.direction,
        metrics.metric_value as observed_value,
        thresholds.warn_threshold,
        thresholds.fail_threshold,
        case
            when metrics.metric_value is null then 'no_data'
            when thresholds.direction = 'max' and metrics.metric_value > thresholds.fail_threshold then 'fail'
            when thresholds.direction = 'min' and metrics.metric_value < thresholds.fail_threshold then 'fail'
            when thresholds.direction = 'max' and metrics.metric_value > thresholds.warn_threshold then 'warn'
            when thresholds.direction = 'min' and metrics.metric_value < thresholds.warn_threshold then 'warn'
            else 'pass'
        end as status,
        thresholds.description
    from thresholds
    inner join metrics on thresholds.metric_name = metrics.metric_name

)

select * from final
