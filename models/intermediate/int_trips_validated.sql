{%- set production_months = var('production_months') -%}

with

trips as (

    select * from {{ ref('stg_tlc__green_trips') }}

),

flagged as (

    select
        *,
        case
            when source_month = '{{ var("reference_month") }}' then 'reference'
            else 'production'
        end as data_role,
        -- soft defects the course keeps: flagged and counted (marts.daily_data_defects), never dropped
        coalesce(
            extract(year from {{ var('timestamp_column') }}) * 100 + extract(month from {{ var('timestamp_column') }})
            != cast(replace(source_month, '-', '') as integer),
            false
        ) as is_outside_file_month,
        coalesce(fare_amount < 0 or total_amount < 0, false) as has_negative_fare,
        -- a trip's identity is every value the TLC gives it: an exact copy of an earlier row (by trip_id: file,
        -- then position) is a duplicate, counted in daily_data_defects and kept out of training and monitoring
        row_number() over (
            partition by {{ trip_identity_columns() }}
            order by trip_id
        ) > 1 as is_duplicate,
        {%- for rule in all_rules() %}
            {{ rule_condition(rule) }} as passes_{{ rule.name }},
        {%- endfor %}
        cast({{ var('timestamp_column') }} as date) as pickup_date
    from trips
    where source_month in (
            '{{ var("reference_month") }}'
            {%- for month in production_months %}, '{{ month }}'{% endfor %}
        )

),

final as (

    select
        *,
        {{ passes_all('input') }} as passes_input_rules,
        {{ passes_all('target') }} as passes_target_rules
    from flagged

)

select * from final
