{#- Volume and performance per segment for each production batch date and model version, and for the reference
    (batch_date null): the taxi example's pickup borough (TLC zone lookup) and time of day, or the values of the
    columns a model's own configuration names in the var segment_columns. -#}

with

segmented as (

    {{ segmented_rows() }}

),

unpivoted as (
    {%- for segment_type in segment_types() %}

    select
        {{ var('id_column') }},
        split,
        batch_date,
        model_version,
        passes_input_rules,
        is_performance_row,
        prediction_error,
        '{{ segment_type }}' as segment_type,
        cast({{ segment_type }} as {{ dbt.type_string() }}) as segment
    from segmented
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- else %}

    select
        {{ var('id_column') }},
        split,
        batch_date,
        model_version,
        passes_input_rules,
        is_performance_row,
        prediction_error,
        cast(null as {{ dbt.type_string() }}) as segment_type,
        cast(null as {{ dbt.type_string() }}) as segment
    from segmented
    where false
    {%- endfor %}

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
