with

source as (

    select * from {{ source('monitoring', 'batch_metrics') }}

),

renamed as (

    select
        batch_date,
        model_version,
        metric_name,
        column_name,
        metric_value,
        stat_test,
        threshold,
        drift_detected,
        calibrated_threshold,
        calibrated_drift_detected,
        engine,
        evidently_version,
        computed_at,
        compute_seconds
    from source

),

final as (

    select * from renamed

)

select * from final
