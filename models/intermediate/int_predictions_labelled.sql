{#- The contract's rows for a model configured by `monitored_tables` (macros/monitored_model.sql): each prediction
    with its label where one has landed, on the side of the comparison its timestamp puts it on. The reference
    period's rows are the reference; the production period's rows are batched by the day of their timestamp. -#}
{{ config(enabled=monitored_tables_configured()) }}

with

predictions as (

    select * from {{ ref('stg_monitored__predictions') }}

),

labels as (

    select * from {{ ref('stg_monitored__labels') }}

),

labelled as (

    select
        predictions.*,
        labels.{{ var('target_column') }},
        labels.labelled_at
    from predictions
    left join labels on predictions.{{ var('id_column') }} = labels.{{ var('id_column') }}

),

flagged as (

    select
        *,
        {%- for rule in all_rules() %}
        {{ rule_condition(rule) }} as passes_{{ rule.name }},
        {%- endfor %}
        case
            when {{ within_period(var('timestamp_column'), 'reference_period') }} then 'reference'
            when {{ within_period(var('timestamp_column'), 'production_period') }} then 'production'
            else 'excluded'
        end as split
    from labelled

),

judged as (

    select
        *,
        case when split = 'production' then cast({{ var('timestamp_column') }} as date) end as batch_date,
        {{ passes_all('input') }} as passes_input_rules,
        {{ passes_all('target') }} as passes_target_rules
    from flagged

),

final as (

    select
        *,
        passes_input_rules
        and passes_target_rules
        and {{ var('prediction_column') }} is not null
        and {{ var('target_column') }} is not null as is_performance_row
    from judged

)

select * from final
