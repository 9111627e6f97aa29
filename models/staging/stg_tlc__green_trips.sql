with

source as (

    select * from {{ source('tlc', 'green_trips') }}

),

renamed as (

    select
        trip_id,
        source_file,
        source_month,
        source_row_number,
        {{ green_trip_columns() }},
        loaded_at
    from source

),

final as (

    select
        *,
        {{ duration_minutes('pickup_datetime', 'dropoff_datetime') }} as duration_min
    from renamed

)

select * from final
