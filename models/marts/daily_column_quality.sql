{%- set measures = ['min', 'max', 'mean'] + (var('health_quantiles') | list) + [
    'missing_count', 'missing_share',
    'out_of_range_count', 'out_of_range_share',
    'new_category_count', 'new_category_share'
] -%}

with

metrics as (

    select * from {{ ref('stg_monitoring__batch_metrics') }}
    where column_name <> ''

),

monitored_columns as (

    select * from {{ ref('monitored_columns') }}

),

pivoted as (

    select
        batch_date,
        model_version,
        {{ pivot_batch_metrics(measures) }},
        column_name
    from metrics
    group by batch_date, model_version, column_name

),

final as (

    select
        pivoted.*,
        monitored_columns.role as column_role
    from pivoted
    left join monitored_columns on pivoted.column_name = monitored_columns.column_name

)

select * from final
