{#- The two sides of every comparison, with each model version's prediction (null where the model
    could not score the row): the reference rows after the training rows, and the production trips
    whose pickup day falls in a production month (their batch). -#}
with

trips as (

    select * from {{ ref('int_trips_split') }}
    where split = 'reference' or (split = 'production' and batch_date is not null)

),

model_versions as (

    select model_version from {{ ref('stg_model__model_versions') }}
    where reference_month = '{{ var("reference_month") }}'

),

predictions as (

    select * from {{ ref('stg_model__predictions') }}

),

final as (

    select
        trips.*,
        model_versions.model_version,
        predictions.{{ var('prediction_column') }},
        -- the rows behind performance metrics: every rule holds, and there are a prediction and a label
        trips.passes_input_rules
        and trips.passes_target_rules
        and predictions.{{ var('prediction_column') }} is not null
        and trips.{{ var('target_column') }} is not null as is_performance_row
    from trips
    cross join model_versions
    left join predictions
        on
            trips.trip_id = predictions.trip_id
            and model_versions.model_version = predictions.model_version

)

select * from final
