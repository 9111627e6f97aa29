{#- Row-level defects per production day: the soft defects the course keeps (flagged in int_trips_validated),
    the exact duplicates kept out of monitoring (int_trips_split)
    and the rows the loader quarantined (stg_tlc__rejected_trips), counted by their pickup day. -#}
{%- set reasons = [
    'missing_pickup_or_dropoff', 'dropoff_before_pickup', 'longer_than_max_trip_hours',
    'pickup_in_future', 'unknown_pickup_location', 'unknown_dropoff_location', 'non_finite_number',
] -%}

with

batch_dates as (

    select batch_date from {{ ref('int_batch_dates_spined') }}

),

trips as (

    select * from {{ ref('int_trips_split') }}
    where split in ('production', 'duplicate') and batch_date is not null

),

rejected as (

    select
        *,
        cast({{ var('timestamp_column') }} as date) as pickup_date
    from {{ ref('stg_tlc__rejected_trips') }}
    where source_month in (
            {%- for month in var('production_months') %}'{{ month }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        )

),

trip_counts as (

    select
        batch_date,
        cast(sum(case when split = 'production' then 1 else 0 end) as bigint) as trips,
        cast(sum(case when split = 'duplicate' then 1 else 0 end) as bigint) as duplicate_trips,
        cast(sum(case when split = 'production' and has_negative_fare then 1 else 0 end) as bigint)
            as negative_fare_trips,
        cast(sum(case when split = 'production' and is_outside_file_month then 1 else 0 end) as bigint)
            as outside_file_month_trips
    from trips
    group by batch_date

),

rejected_counts as (

    select
        pickup_date,
        count(*) as rejected_trips,
        {%- for reason in reasons %}
            cast(sum(case when reject_reason = '{{ reason }}' then 1 else 0 end) as bigint) as rejected_{{ reason }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from rejected
    group by pickup_date

),

final as (

    select
        batch_dates.batch_date,
        coalesce(trip_counts.trips, 0) as trips,
        coalesce(trip_counts.negative_fare_trips, 0) as negative_fare_trips,
        cast(trip_counts.negative_fare_trips as {{ type_double() }}) / nullif(trip_counts.trips, 0)
            as negative_fare_share,
        coalesce(trip_counts.outside_file_month_trips, 0) as outside_file_month_trips,
        coalesce(trip_counts.duplicate_trips, 0) as duplicate_trips,
        coalesce(rejected_counts.rejected_trips, 0) as rejected_trips,
        cast(coalesce(rejected_counts.rejected_trips, 0) as {{ type_double() }})
        / nullif(coalesce(trip_counts.trips, 0) + coalesce(rejected_counts.rejected_trips, 0), 0) as rejected_share,
        {%- for reason in reasons %}
            coalesce(rejected_counts.rejected_{{ reason }}, 0) as rejected_{{ reason }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from batch_dates
    left join trip_counts on batch_dates.batch_date = trip_counts.batch_date
    left join rejected_counts on batch_dates.batch_date = rejected_counts.pickup_date

)

select * from final
