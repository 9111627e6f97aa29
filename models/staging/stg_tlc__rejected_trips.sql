{#- The rows `mlwatch load` quarantined, named and typed like stg_tlc__green_trips, with the reason. -#}
with

source as (

    select * from {{ source('tlc', 'rejected_trips') }}

),

renamed as (

    select
        trip_id,
        source_file,
        source_month,
        source_row_number,
        reject_reason,
        vendorid as vendor_id,
        lpep_pickup_datetime as pickup_datetime,
        lpep_dropoff_datetime as dropoff_datetime,
        store_and_fwd_flag,
        ratecodeid as rate_code_id,
        pulocationid as pickup_location_id,
        dolocationid as dropoff_location_id,
        passenger_count,
        trip_distance,
        fare_amount,
        extra,
        mta_tax,
        tip_amount,
        tolls_amount,
        ehail_fee,
        improvement_surcharge,
        total_amount,
        payment_type,
        trip_type,
        congestion_surcharge,
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
