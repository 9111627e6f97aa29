{#- One row per model version and drift column: the reference's size, distinct values, range, and the
    population standard deviation (ddof 0, numpy's default) that normalises the Wasserstein distance. -#}
with

reference_values as (

    select * from {{ ref('int_reference_values_profiled') }}

),

summed as (

    select
        model_version,
        column_name,
        column_kind,
        max(reference_rows) as reference_rows,
        count(*) as reference_distinct,
        min(value) as min_value,
        max(value) as max_value,
        sum(value * value_count) / max(reference_rows) as mean_value,
        max(cdf_integral) as max_cdf_integral
    from reference_values
    group by model_version, column_name, column_kind

),

-- two passes, as numpy: squared deviations from the mean, never sum(x^2) - n * mean^2
deviations as (

    select
        summed.model_version,
        summed.column_name,
        summed.reference_rows,
        reference_values.value_count
        * (reference_values.value - summed.mean_value) * (reference_values.value - summed.mean_value)
            as squared_deviation
    from summed
    inner join reference_values
        on
            summed.model_version = reference_values.model_version
            and summed.column_name = reference_values.column_name
    where summed.column_kind = 'numerical'

),

spread as (

    select
        model_version,
        column_name,
        sqrt(sum(squared_deviation) / max(reference_rows)) as std_value
    from deviations
    group by model_version, column_name

),

final as (

    select
        summed.model_version,
        summed.column_name,
        summed.column_kind,
        summed.reference_rows,
        summed.reference_distinct,
        summed.min_value,
        summed.max_value,
        summed.max_cdf_integral,
        spread.std_value
    from summed
    left join spread
        on
            summed.model_version = spread.model_version
            and summed.column_name = spread.column_name

)

select * from final
