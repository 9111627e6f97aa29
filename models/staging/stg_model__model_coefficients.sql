with

source as (

    select * from {{ source('model', 'model_coefficients') }}

),

renamed as (

    select
        model_version,
        term,
        coefficient
    from source

),

final as (

    select * from renamed

)

select * from final
