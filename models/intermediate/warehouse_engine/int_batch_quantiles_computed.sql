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

-- both ranks a quantile interpolates between, looked up in one pass over the running counts
ranks as (

    select
        batch_date,
        model_version,
        column_name,
        quantile_name,
        lower_rank as value_rank,
        false as is_upper
    from ranked

    union all

    select
        batch_date,
        model_version,
        column_name,
        quantile_name,
        lower_rank + 1 as value_rank,
        true as is_upper
    from ranked

),

-- the value at 0-based rank r is the first one whose running count exceeds r
ranked_values as (

    select
        ranks.batch_date,
        ranks.model_version,
        ranks.column_name,
        ranks.quantile_name,
        ranks.is_upper,
        at_rank.value
    from ranks
    {{ asof_left_join(
        ref('int_batch_values_counted'), 'at_rank',
        [('ranks.batch_date', 'batch_date'), ('ranks.model_version', 'model_version'),
         ('ranks.column_name', 'column_name')],
        'ranks.value_rank', '<', 'cumulative_count', probes='ranks'
    ) }}

),

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
    left join ranked_values as lower_value
        on
            ranked.batch_date = lower_value.batch_date
            and ranked.model_version = lower_value.model_version
            and ranked.column_name = lower_value.column_name
            and ranked.quantile_name = lower_value.quantile_name
            and not lower_value.is_upper
    left join ranked_values as upper_value
        on
            ranked.batch_date = upper_value.batch_date
            and ranked.model_version = upper_value.model_version
            and ranked.column_name = upper_value.column_name
            and ranked.quantile_name = upper_value.quantile_name
            and upper_value.is_upper

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
