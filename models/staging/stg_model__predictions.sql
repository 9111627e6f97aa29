with

source as (

    select * from {{ source('model', 'predictions') }}

),

renamed as (

    select
        trip_id,
        model_version,
        prediction,
        predicted_at
    from source

),

final as (

    select * from renamed

)

select * from final
