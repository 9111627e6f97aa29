{#- The TLC green-trip columns renamed to snake_case, shared by the landed trips and the quarantined ones
    so the two staging models can never name a column differently. -#}
{% macro green_trip_columns() -%}
        vendorid as vendor_id,
        lpep_pickup_datetime as pickup_datetime,
        lpep_dropoff_datetime as dropoff_datetime,
        store_and_fwd_flag,
        ratecodeid as rate_code_id,
        pulocationid as pickup_location_id,
        dolocationid as dropoff_location_id,
        passenger_count,
        trip_distance,
        fare_amount,
        extra,
        mta_tax,
        tip_amount,
        tolls_amount,
        ehail_fee,
        improvement_surcharge,
        total_amount,
        payment_type,
        trip_type,
        congestion_surcharge
{%- endmacro %}

{#- The staging names of the columns above: together they are a trip's identity (int_trips_validated). -#}
{% macro trip_identity_columns() -%}
    {%- for column in green_trip_columns().split(',') -%}
        {{ column.split(' as ')[-1].strip() }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}
