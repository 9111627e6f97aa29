{#- Volume, rule failures and performance per side of the comparison: one row per production batch
    date and model version, plus one row per model version for the reference (batch_date null).
    Performance uses only rows that pass every rule and have a prediction, on both sides; labels
    that arrive later are counted as soon as they are loaded, since this table is rebuilt every run. -#}
{%- set target = var('target_column') -%}
{%- set prediction = var('prediction_column') -%}
{%- set error = prediction ~ ' - ' ~ target -%}

with

trips as (

    select * from {{ monitored_rows() }}

),

label_means as (

    select
        split,
        batch_date,
        model_version,
        {{ repeatable('avg', target) }} as mean_target
    from trips
    where is_performance_row
    group by split, batch_date, model_version

),

aggregated as (

    select
        trips.split,
        trips.batch_date,
        trips.model_version,
        count(*) as trips,
        -- the days the compared rows span (the reference's input-valid rows cover only its last days)
        count(distinct case
            when trips.passes_input_rules then cast(trips.{{ var('timestamp_column') }} as date)
        end) as input_valid_pickup_days,
        cast(sum(case when trips.passes_input_rules then 1 else 0 end) as bigint) as input_valid_trips,
        cast(sum(case when trips.is_performance_row then 1 else 0 end) as bigint) as performance_trips,
        {%- for rule in all_rules() %}
            {{ repeatable('avg', 'case when trips.passes_' ~ rule.name ~ ' then 0 else 1 end') }}
                as share_failing_{{ rule.name }},
        {%- endfor %}
        {{ repeatable('avg', 'case when trips.passes_input_rules then trips.' ~ prediction ~ ' end') }}
            as mean_prediction,
        {{ repeatable('avg', 'case when trips.is_performance_row then abs(' ~ error ~ ') end') }} as mae,
        sqrt({{ repeatable('avg', 'case when trips.is_performance_row then power(' ~ error ~ ', 2) end') }}) as rmse,
        {{ repeatable('avg', 'case when trips.is_performance_row then ' ~ error ~ ' end') }} as mean_error,
        {{ repeatable(
            'avg', 'case when trips.is_performance_row and trips.' ~ target ~ ' > 1 then abs(' ~ error
            ~ ') / trips.' ~ target ~ ' end'
        ) }} as mape,
        1 - {{ repeatable('sum', 'case when trips.is_performance_row then power(' ~ error ~ ', 2) end') }}
        / nullif({{ repeatable(
            'sum', 'case when trips.is_performance_row then power(trips.' ~ target ~ ' - label_means.mean_target, 2) end'
        ) }}, 0) as r2
    from trips
    left join label_means
        on
            trips.split = label_means.split
            and trips.model_version = label_means.model_version
            and trips.batch_date is not distinct from label_means.batch_date
    group by trips.split, trips.batch_date, trips.model_version

),

final as (

    select * from aggregated

)

select * from final
