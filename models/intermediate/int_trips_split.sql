{%- set production_months = var('production_months') -%}

with

trips as (

    select * from {{ ref('int_trips_validated') }}

),

kept_reference_trips as (

    select
        trip_id,
        source_row_number,
        row_number() over (order by source_row_number) as kept_row_number
    from trips
    where data_role = 'reference' and passes_input_rules and passes_target_rules and not is_duplicate

),

training_cutoff as (

    select max(source_row_number) as last_training_row_number
    from kept_reference_trips
    where kept_row_number <= {{ var('training_rows') }}

),

split as (

    select
        trips.*,
        case
            when trips.is_duplicate then 'duplicate'
            when trips.data_role = 'production' then 'production'
            when kept_reference_trips.kept_row_number <= {{ var('training_rows') }} then 'train'
            when trips.source_row_number > training_cutoff.last_training_row_number then 'reference'
            else 'excluded'
        end as split,
        case
            when trips.data_role = 'production' and (
                    {%- for month in production_months %}
                        (
                            trips.pickup_date >= {{ month_start(month) }}
                            and trips.pickup_date < {{ next_month_start(month) }}
                        )
                        {%- if not loop.last %} or {% endif %}
                    {%- endfor %}
                ) then trips.pickup_date
        end as batch_date
    from trips
    cross join training_cutoff
    left join kept_reference_trips on trips.trip_id = kept_reference_trips.trip_id

),

final as (

    select * from split

)

select * from final
