with

source as (

    select * from {{ source('monitoring', 'engine_batch_dates') }}

),

renamed as (

    select batch_date
    from source

),

final as (

    select * from renamed

)

select * from final
