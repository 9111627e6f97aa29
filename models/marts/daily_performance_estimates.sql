{#- Each day's MAE estimated before its labels (NannyML's Direct Loss Estimation, python/mlwatch/estimates.py)
    beside the realized MAE once the labels are in, both as ratios to the reference's MAE. A day with labels is
    harmful when its realized ratio reaches the var `harm_mae_ratio`; the estimate flags the same before them. -#}
{%- set harm = var('harm_mae_ratio') -%}

with

daily as (

    select * from {{ ref('daily_model_monitoring') }}

),

estimates as (

    select * from {{ ref('stg_monitoring__performance_estimates') }}

),

final as (

    select
        daily.batch_date,
        daily.model_version,
        estimates.estimated_rows,
        estimates.estimated_mae,
        estimates.estimated_mae_lower,
        estimates.estimated_mae_upper,
        daily.mae as realized_mae,
        daily.performance_trips,
        daily.reference_mae,
        daily.estimated_mae_ratio_to_reference,
        daily.mae_ratio_to_reference as realized_mae_ratio_to_reference,
        cast({{ harm }} as {{ type_double() }}) as harm_mae_ratio,
        daily.estimated_mae_ratio_to_reference >= {{ harm }} as is_estimated_harmful,
        daily.mae_ratio_to_reference >= {{ harm }} as is_harmful,
        daily.mae between estimates.estimated_mae_lower and estimates.estimated_mae_upper as is_realized_within_band,
        estimates.estimation_method
    from daily
    inner join estimates
        on
            daily.batch_date = estimates.batch_date
            and daily.model_version = estimates.model_version

)

select * from final
