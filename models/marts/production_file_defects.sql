{#- Per production file: what it landed and where each trip went, so that no trip vanishes between raw and the
    daily marts unseen. A trip picked up outside every production month belongs to no daily batch: with one
    production month, the rows of its file picked up in the month before or after. -#}
{%- set production_months = var('production_months') -%}

with

trips as (

    select * from {{ ref('int_trips_split') }}
    where data_role = 'production'

),

rejected as (

    select * from {{ ref('stg_tlc__rejected_trips') }}

),

files as (

    {%- for month in production_months %}
        select '{{ month }}' as source_month
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

trip_counts as (

    select
        source_month,
        count(*) as landed_trips,
        cast(sum(case when split = 'duplicate' then 1 else 0 end) as bigint) as duplicate_trips,
        cast(sum(case when split = 'production' and batch_date is null then 1 else 0 end) as bigint)
            as trips_in_no_batch,
        cast(sum(case when split = 'production' and batch_date is not null then 1 else 0 end) as bigint)
            as monitored_trips,
        cast(sum(case when is_outside_file_month then 1 else 0 end) as bigint) as outside_file_month_trips
    from trips
    group by source_month

),

rejected_counts as (

    select
        source_month,
        count(*) as rejected_trips
    from rejected
    group by source_month

),

final as (

    select
        files.source_month,
        coalesce(trip_counts.landed_trips, 0) as landed_trips,
        coalesce(trip_counts.monitored_trips, 0) as monitored_trips,
        coalesce(trip_counts.trips_in_no_batch, 0) as trips_in_no_batch,
        coalesce(trip_counts.duplicate_trips, 0) as duplicate_trips,
        coalesce(trip_counts.outside_file_month_trips, 0) as outside_file_month_trips,
        coalesce(rejected_counts.rejected_trips, 0) as rejected_trips
    from files
    left join trip_counts on files.source_month = trip_counts.source_month
    left join rejected_counts on files.source_month = rejected_counts.source_month

)

select * from final
