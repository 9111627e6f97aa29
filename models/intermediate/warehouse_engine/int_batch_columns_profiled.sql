{#- Per batch date, model version and monitored column, for the days this run computes: rows, missing
    values and the values a drift test sees, and the column's health as mlwatch.metrics.column_health
    measures it with pandas (min, max and mean of the present values, values outside the reference's
    range, categories the reference never had; its quantiles are in int_batch_quantiles_computed). One
    scan of the batch rows, then the batch's distinct values against the reference profile; a day
    without rows has no row here. -#}
{%- do ref('stg_monitoring__engine_batch_dates') %}
{%- set columns = engine_columns(['numerical_feature', 'categorical_feature', 'target', 'prediction']) -%}

with

scored as (

    select * from {{ monitored_rows() }}
    where split = 'production' and passes_input_rules and {{ engine_batch_dates_filter('batch_date') }}

),

reference_columns as (

    select * from {{ ref('int_reference_columns_profiled') }}

),

reference_values as (

    select * from {{ ref('int_reference_values_profiled') }}

),

batch_values as {{ inlined_cte() }} (

    select * from {{ ref('int_batch_values_counted') }}

),

counted as (

    select
        batch_date,
        model_version,
        {%- for column in columns %}
            {%- set present = 'case when not ' ~ engine_is_missing(column) ~ ' then ' ~ column.name ~ ' end' %}
            sum(case when {{ engine_is_missing(column) }} then 1 else 0 end) as missing__{{ column.name }},
            sum(case when {{ engine_is_observed(column) }} then 1 else 0 end) as observed__{{ column.name }},
            {%- if column.kind == 'numerical' %}
                cast(min({{ present }}) as {{ type_double() }}) as min__{{ column.name }},
                cast(max({{ present }}) as {{ type_double() }}) as max__{{ column.name }},
                cast(avg({{ present }}) as {{ type_double() }}) as mean__{{ column.name }},
            {%- endif %}
        {%- endfor %}
        count(*) as row_count
    from scored
    group by batch_date, model_version

),

-- the typed empty select keeps the model valid before the seed is loaded (e.g. `dbt docs generate`)
unpivoted as (

    select
        batch_date,
        model_version,
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as column_role,
        cast(null as {{ dbt.type_string() }}) as column_kind,
        row_count,
        cast(0 as bigint) as missing_count,
        cast(0 as bigint) as observed_count,
        cast(null as {{ type_double() }}) as min_value,
        cast(null as {{ type_double() }}) as max_value,
        cast(null as {{ type_double() }}) as mean_value
    from counted
    where false
    {%- for column in columns %}

        union all

        select
            batch_date,
            model_version,
            '{{ column.name }}' as column_name,
            '{{ column.role }}' as column_role,
            '{{ column.kind }}' as column_kind,
            row_count,
            cast(missing__{{ column.name }} as bigint) as missing_count,
            cast(observed__{{ column.name }} as bigint) as observed_count,
            {%- if column.kind == 'numerical' %}
                min__{{ column.name }} as min_value,
                max__{{ column.name }} as max_value,
                mean__{{ column.name }} as mean_value
            {%- else %}
                null as min_value,
                null as max_value,
                null as mean_value
            {%- endif %}
        from counted
    {%- endfor %}

),

-- OutRangeValueCount against the reference's range (present values only: a missing one is in no range)
out_of_range as (

    select
        batch_values.batch_date,
        batch_values.model_version,
        batch_values.column_name,
        sum(
            case
                when batch_values.value < reference_columns.min_value then batch_values.value_count
                when batch_values.value > reference_columns.max_value then batch_values.value_count
                else 0
            end
        ) as out_of_range_count
    from batch_values
    inner join reference_columns
        on
            batch_values.model_version = reference_columns.model_version
            and batch_values.column_name = reference_columns.column_name
    where batch_values.column_kind = 'numerical'
    group by batch_values.batch_date, batch_values.model_version, batch_values.column_name

),

-- OutListValueCount against the reference's categories: the batch's values the reference lacks
new_categories as (

    select
        batch_values.batch_date,
        batch_values.model_version,
        batch_values.column_name,
        sum(case when reference_values.model_version is null then batch_values.value_count else 0 end)
            as new_category_count
    from batch_values
    left join reference_values
        on
            batch_values.model_version = reference_values.model_version
            and batch_values.column_name = reference_values.column_name
            and batch_values.category = reference_values.category
    where batch_values.column_kind = 'categorical'
    group by batch_values.batch_date, batch_values.model_version, batch_values.column_name

),

final as (

    select
        unpivoted.*,
        cast(out_of_range.out_of_range_count as bigint) as out_of_range_count,
        cast(new_categories.new_category_count as bigint) as new_category_count
    from unpivoted
    left join out_of_range
        on
            unpivoted.batch_date = out_of_range.batch_date
            and unpivoted.model_version = out_of_range.model_version
            and unpivoted.column_name = out_of_range.column_name
    left join new_categories
        on
            unpivoted.batch_date = new_categories.batch_date
            and unpivoted.model_version = new_categories.model_version
            and unpivoted.column_name = new_categories.column_name

)

select * from final
