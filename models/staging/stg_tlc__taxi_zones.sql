with

source as (

    select * from {{ source('tlc', 'taxi_zones') }}

),

renamed as (

    select
        locationid as location_id,
        borough,
        zone as zone_name,
        service_zone
    from source

),

final as (

    select * from renamed

)

select * from final
