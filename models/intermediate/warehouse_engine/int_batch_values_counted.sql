{#- The batch side of every drift comparison: one row per batch date, model version, drift column (and
    the target, for its range check) and distinct value, for the days this run computes. Numerical
    values carry their running count, so the batch's CDF at any point is one lookup away, and the next
    value of the batch, so a batch's step from one value to the next needs no second sort of its values. -#}
{%- do ref('stg_monitoring__engine_batch_dates') %}
{{ config(
    indexes=engine_lookup_indexes([
        ['batch_date', 'model_version', 'column_name', 'value'],
        ['batch_date', 'model_version', 'column_name', 'cumulative_count'],
    ])
) }}

with

scored as {{ inlined_cte() }} (

    select * from {{ monitored_rows() }}
    where split = 'production' and passes_input_rules and {{ engine_batch_dates_filter('batch_date') }}

),

counted as (

    {{ engine_value_counts('scored', ['batch_date', 'model_version'], engine_drift_roles() + ['target']) }}

),

final as (

    select
        batch_date,
        model_version,
        column_name,
        column_kind,
        value,
        category,
        value_count,
        cumulative_count,
        next_value
    from counted

)

select * from final
