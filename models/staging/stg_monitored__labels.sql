{{ config(enabled=monitored_tables_configured()) }}

with

source as (

    select * from {{ source('monitored', 'labels') }}

),

renamed as (

    select
        {{ var('id_column') }},
        {{ var('target_column') }},
        loaded_at as labelled_at
    from source

),

final as (

    select * from renamed

)

select * from final
