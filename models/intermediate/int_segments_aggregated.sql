{#- Volume and performance per segment - the pickup borough (TLC zone lookup) and the time of day -
    for each production batch date and model version, and for the reference (batch_date null). -#}

with

trips as (

    select * from {{ ref('int_trips_scored') }}

),

zones as (

    select * from {{ ref('stg_tlc__taxi_zones') }}

),

segmented as (

    select
        trips.trip_id,
        trips.split,
        trips.batch_date,
        trips.model_version,
        trips.passes_input_rules,
        trips.is_performance_row,
        trips.{{ var('prediction_column') }} - trips.{{ var('target_column') }} as prediction_error,
        coalesce(zones.borough, 'Unknown') as borough,
        case
            when extract(hour from trips.pickup_datetime) < 6 then '00-06 night'
            when extract(hour from trips.pickup_datetime) < 12 then '06-12 morning'
            when extract(hour from trips.pickup_datetime) < 18 then '12-18 afternoon'
            else '18-24 evening'
        end as time_of_day
    from trips
    left join zones on trips.pickup_location_id = zones.location_id

),

unpivoted as (

    select
        trip_id,
        split,
        batch_date,
        model_version,
        passes_input_rules,
        is_performance_row,
        prediction_error,
        'borough' as segment_type,
        borough as segment
    from segmented

    union all

    select
        trip_id,
        split,
        batch_date,
        model_version,
        passes_input_rules,
        is_performance_row,
        prediction_error,
        'time_of_day' as segment_type,
        time_of_day as segment
    from segmented

),

aggregated as (

    select
        split,
        batch_date,
        model_version,
        segment_type,
        segment,
        count(*) as trips,
        cast(sum(case when passes_input_rules then 1 else 0 end) as bigint) as input_valid_trips,
        cast(sum(case when is_performance_row then 1 else 0 end) as bigint) as performance_trips,
        {{ repeatable('avg', 'case when is_performance_row then abs(prediction_error) end') }} as mae,
        sqrt({{ repeatable('avg', 'case when is_performance_row then power(prediction_error, 2) end') }}) as rmse,
        {{ repeatable('avg', 'case when is_performance_row then prediction_error end') }} as mean_error
    from unpivoted
    group by split, batch_date, model_version, segment_type, segment

),

final as (

    select * from aggregated

)

select * from final
