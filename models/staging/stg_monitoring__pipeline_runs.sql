with

source as (

    select * from {{ source('monitoring', 'pipeline_runs') }}

),

renamed as (

    select
        run_id,
        step,
        started_at,
        finished_at,
        status,
        rows_written,
        error
    from source

),

final as (

    select * from renamed

)

select * from final
