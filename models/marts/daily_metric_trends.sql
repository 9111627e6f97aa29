{#- Daily metrics in long form with their trend: a rolling mean over the last `trend_window_days` days,
    the change from the day before, and a band from the trailing window (the days before, not the day
    itself) that flags a day whose value jumps out of its recent range. -#}
{%- set metrics = var('trend_metrics') | list -%}
{%- for rule in all_rules() %}{% do metrics.append('share_failing_' ~ rule.name) %}{% endfor -%}
{%- set window = var('trend_window_days') -%}
{%- set per_metric = 'partition by model_version, metric_name order by batch_date' -%}

with

daily as (

    select * from {{ ref('daily_model_monitoring') }}

),

unpivoted as (

    {%- for metric in metrics %}
        select
            batch_date,
            model_version,
            '{{ metric }}' as metric_name,
            cast({{ metric }} as {{ type_double() }}) as metric_value
        from daily
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

windowed as (

    select
        *,
        avg(metric_value) over (
            {{ per_metric }} rows between {{ window - 1 }} preceding and current row
        ) as rolling_avg,
        metric_value - lag(metric_value) over ({{ per_metric }}) as day_over_day_change,
        avg(metric_value) over (
            {{ per_metric }} rows between {{ window }} preceding and 1 preceding
        ) as trailing_mean,
        stddev_samp(metric_value) over (
            {{ per_metric }} rows between {{ window }} preceding and 1 preceding
        ) as trailing_stddev,
        count(metric_value) over (
            {{ per_metric }} rows between {{ window }} preceding and 1 preceding
        ) as trailing_days
    from unpivoted

),

final as (

    select
        batch_date,
        model_version,
        metric_name,
        metric_value,
        rolling_avg,
        day_over_day_change,
        trailing_mean,
        trailing_stddev,
        trailing_mean - {{ var('trend_band_stddevs') }} * trailing_stddev as band_lower,
        trailing_mean + {{ var('trend_band_stddevs') }} * trailing_stddev as band_upper,
        coalesce(
            metric_value is not null
            and trailing_days >= {{ var('trend_min_history_days') }}
            -- the relative slack keeps a value equal to a constant history (stddev 0) inside its band
            -- when the two differ only by floating-point rounding
            and abs(metric_value - trailing_mean)
            > {{ var('trend_band_stddevs') }} * trailing_stddev + 1e-9 * abs(trailing_mean),
            false
        ) as is_outside_band
    from windowed

)

select * from final
