with

source as (

    select * from {{ source('model', 'model_versions') }}

),

renamed as (

    select
        model_version,
        model_type,
        reference_month,
        features,
        target,
        train_rows,
        validation_rows,
        train_mae,
        validation_mae,
        sklearn_version,
        trained_at
    from source

),

final as (

    select * from renamed

)

select * from final
