{#- The quantiles of var health_quantiles (name: quantile) of each numerical monitored column per batch
    date and model version, as pandas' Series.quantile computes them (numpy's linear method): with n
    present values, the virtual index h = n * q + (1 - q) - 1, in numpy's order of operations, and the
    values at ranks floor(h) and floor(h) + 1 interpolated as numpy's _lerp does. The ranked values are
    looked up in the batch's running counts, so no batch row is sorted again. -#}
{%- set quantiles = var('health_quantiles') -%}

with

batch_columns as (

    select * from {{ ref('int_batch_columns_profiled') }}
    where column_kind = 'numerical' and observed_count > 0

),

-- the typed empty select keeps the model valid when no quantile is asked for
quantiles as (

    select
        cast(null as {{ dbt.type_string() }}) as quantile_name,
        cast(null as {{ type_double() }}) as quantile
    where false
    {%- for name, quantile in quantiles.items() %}

        union all

        select
            '{{ name }}' as quantile_name,
            cast({{ quantile }} as {{ type_double() }}) as quantile
    {%- endfor %}

),

indexed as (

    select
        batch_columns.batch_date,
        batch_columns.model_version,
        batch_columns.column_name,
        quantiles.quantile_name,
        batch_columns.observed_count * quantiles.quantile + (1 - quantiles.quantile) - 1 as virtual_index
    from batch_columns
    cross join quantiles

),

ranked as (

    select
        *,
        floor(virtual_index) as lower_rank,
        virtual_index - floor(virtual_index) as fraction
    from indexed

),

-- the value at 0-based rank r is the first one whose running count exceeds r
located as (

    select
        ranked.batch_date,
        ranked.model_version,
        ranked.column_name,
        ranked.quantile_name,
        ranked.fraction,
        lower_value.value as lower_value,
        coalesce(upper_value.value, lower_value.value) as upper_value
    from ranked
    {{ asof_left_join(
        ref('int_batch_values_counted'), 'lower_value',
        [('ranked.batch_date', 'batch_date'), ('ranked.model_version', 'model_version'),
         ('ranked.column_name', 'column_name')],
        'ranked.lower_rank', '<', 'cumulative_count'
    ) }}
    {{ asof_left_join(
        ref('int_batch_values_counted'), 'upper_value',
        [('ranked.batch_date', 'batch_date'), ('ranked.model_version', 'model_version'),
         ('ranked.column_name', 'column_name')],
        'ranked.lower_rank + 1', '<', 'cumulative_count'
    ) }}

),

final as (

    select
        batch_date,
        model_version,
        column_name,
        quantile_name,
        case
            when fraction >= 0.5 then upper_value - (upper_value - lower_value) * (1 - fraction)
            else lower_value + (upper_value - lower_value) * fraction
        end as quantile_value
    from located

)

select * from final
