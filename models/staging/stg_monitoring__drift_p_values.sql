with

source as (

    select * from {{ source('monitoring', 'drift_p_values') }}

),

renamed as (

    select
        batch_date,
        model_version,
        column_name,
        stat_test_key,
        test_statistic,
        p_value,
        computed_at
    from source

),

final as (

    select * from renamed

)

select * from final
