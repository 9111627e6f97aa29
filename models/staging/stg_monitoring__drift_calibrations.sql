with

source as (

    select * from {{ source('monitoring', 'drift_calibration') }}

),

renamed as (

    select
        model_version,
        column_name,
        batch_size,
        stat_test,
        default_threshold,
        calibrated_threshold,
        quantile as calibration_quantile,
        draws,
        false_alarm_rate_default,
        seed,
        reference_fingerprint,
        computed_at
    from source

),

final as (

    select * from renamed

)

select * from final
