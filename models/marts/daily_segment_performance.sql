with

segments as (

    select * from {{ ref('int_segments_aggregated') }}

),

batch_segments as (

    select * from segments
    where split = 'production'

),

reference_segments as (

    select * from segments
    where split = 'reference'

),

final as (

    select
        batch_segments.batch_date,
        batch_segments.model_version,
        batch_segments.segment_type,
        batch_segments.segment,
        batch_segments.trips,
        batch_segments.input_valid_trips,
        batch_segments.performance_trips,
        batch_segments.mae,
        batch_segments.rmse,
        batch_segments.mean_error,
        reference_segments.mae as reference_mae,
        batch_segments.mae / nullif(reference_segments.mae, 0) as mae_ratio_to_reference,
        batch_segments.performance_trips >= {{ var('min_segment_trips') }} as is_large_enough
    from batch_segments
    left join reference_segments
        on
            batch_segments.model_version = reference_segments.model_version
            and batch_segments.segment_type = reference_segments.segment_type
            and batch_segments.segment = reference_segments.segment

)

select * from final
