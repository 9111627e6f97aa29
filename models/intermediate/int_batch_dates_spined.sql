{#- Every day of the production months, so an empty day shows as a gap instead of vanishing. -#}
with

days as (

    {{ production_days() }}

),

final as (

    select batch_date from days

)

select * from final
