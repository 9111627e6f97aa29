with

source as (

    select * from {{ source('monitoring', 'performance_estimates') }}

),

renamed as (

    select
        batch_date,
        model_version,
        estimated_rows,
        estimated_mae,
        estimated_mae_lower,
        estimated_mae_upper,
        method as estimation_method,
        computed_at
    from source

),

final as (

    select * from renamed

)

select * from final
