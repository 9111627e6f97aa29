{#- The reference distribution of every drift column (and the target's, for its range), read once per
    model version and kept: each batch looks points up in it instead of re-reading the reference, so a
    new day costs only its own rows. Numerical columns carry the empirical CDF and its running integral,
    from which the Wasserstein distance to any batch follows without merging the two samples (see
    int_column_drift_computed). -#}
{{ config(
    materialized='incremental',
    indexes=engine_lookup_indexes([
        ['model_version', 'column_name', 'value'],
        ['model_version', 'column_name', 'cumulative_share'],
    ])
) }}

with

scored as {{ inlined_cte() }} (

    select * from {{ monitored_rows() }}
    where split = 'reference' and passes_input_rules

),

counted as (

    {{ engine_value_counts(
        'scored', ['model_version'], engine_drift_roles() + ['target'], this if is_incremental() else none
    ) }}

),

accumulated as (

    select
        model_version,
        column_name,
        column_kind,
        value,
        category,
        value_count,
        cast(sum(value_count) over (partition by model_version, column_name) as bigint) as reference_rows,
        cumulative_count,
        next_value
    from counted

),

shared as (

    select
        *,
        -- scipy divides the searchsorted count by the sample size: the same double, bit for bit
        cast(cumulative_count as {{ type_double() }}) / cast(reference_rows as {{ type_double() }}) as cumulative_share
    from accumulated

),

final as (

    select
        model_version,
        column_name,
        column_kind,
        value,
        category,
        value_count,
        reference_rows,
        cumulative_count,
        cumulative_share,
        -- integral of the CDF from the lowest value up to this one: the CDF is a step function
        case
            when column_kind = 'numerical' then coalesce(sum(cumulative_share * (next_value - value)) over below, 0)
        end as cdf_integral
    from shared
    window below as (
        partition by model_version, column_name order by value rows between unbounded preceding and 1 preceding
    )

)

select * from final
