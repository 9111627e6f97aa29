{#- Volume, rule failures and performance per side of the comparison: one row per production batch
    date and model version, plus one row per model version for the reference (batch_date null).
    Performance uses only rows that pass every rule and have a prediction, on both sides. -#}
{%- set target = var('target_column') -%}
{%- set prediction = var('prediction_column') -%}
{%- set performance_row = 'passes_input_rules and passes_target_rules and ' ~ prediction ~ ' is not null' -%}

with

trips as (

    select * from {{ ref('int_trips_scored') }}

),

aggregated as (

    select
        split,
        batch_date,
        model_version,
        count(*) as trips,
        cast(sum(case when passes_input_rules then 1 else 0 end) as bigint) as input_valid_trips,
        cast(sum(case when {{ performance_row }} then 1 else 0 end) as bigint) as performance_trips,
        {%- for rule in all_rules() %}
            {{ repeatable_avg('case when passes_' ~ rule.name ~ ' then 0 else 1 end') }}
                as share_failing_{{ rule.name }},
        {%- endfor %}
        {{ repeatable_avg('case when passes_input_rules then ' ~ prediction ~ ' end') }} as mean_prediction,
        {{ repeatable_avg(
            'case when ' ~ performance_row ~ ' then abs(' ~ prediction ~ ' - ' ~ target ~ ') end'
        ) }} as mae,
        sqrt({{ repeatable_avg(
            'case when ' ~ performance_row ~ ' then power(' ~ prediction ~ ' - ' ~ target ~ ', 2) end'
        ) }}) as rmse
    from trips
    group by split, batch_date, model_version

),

final as (

    select * from aggregated

)

select * from final
