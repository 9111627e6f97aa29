{#- The day's verdict is its worst test: fail > warn > no_data > pass. -#}
with

results as (

    select * from {{ ref('daily_test_results') }}

),

ranked as (

    select
        *,
        case status when 'fail' then 3 when 'warn' then 2 when 'no_data' then 1 else 0 end as severity
    from results

),

final as (

    select
        batch_date,
        model_version,
        case max(severity) when 3 then 'fail' when 2 then 'warn' when 1 then 'no_data' else 'ok' end as status,
        count(*) as tests,
        cast(sum(case when status = 'fail' then 1 else 0 end) as bigint) as failed_tests,
        cast(sum(case when status = 'warn' then 1 else 0 end) as bigint) as warned_tests,
        {{ dbt.listagg("case when status = 'fail' then test_name end", "', '", "order by test_name") }}
            as failed_test_names,
        {{ dbt.listagg("case when status = 'warn' then test_name end", "', '", "order by test_name") }}
            as warned_test_names
    from ranked
    group by batch_date, model_version

)

select * from final
