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
