{#- The stat test Evidently applies to each batch date, model version and drift column: the seed's,
    or the one Evidently picks itself (stattests/registry.py, _get_default_stattest) from the
    reference's size and the number of distinct values on both sides; with its threshold and the
    name mlwatch reports for it (Evidently's display name, whoever chose the test). -#}
with

batch_columns as (

    select * from {{ ref('int_batch_columns_profiled') }}
    where column_role <> 'target' and observed_count > 0

),

reference_columns as (

    select * from {{ ref('int_reference_columns_profiled') }}

),

reference_values as (

    select * from {{ ref('int_reference_values_profiled') }}

),

batch_values as (

    select * from {{ ref('int_batch_values_counted') }}

),

settings as (

    select * from {{ ref('monitored_columns') }}

),

compared as (

    select
        batch_columns.batch_date,
        batch_columns.model_version,
        batch_columns.column_name,
        batch_columns.column_kind,
        reference_columns.reference_rows,
        batch_columns.observed_count as current_rows,
        reference_columns.reference_distinct,
        settings.stat_test as configured_stat_test,
        settings.threshold as configured_threshold
    from batch_columns
    inner join reference_columns
        on
            batch_columns.model_version = reference_columns.model_version
            and batch_columns.column_name = reference_columns.column_name
    inner join settings on batch_columns.column_name = settings.column_name

),

-- Values of the batch the reference never saw; the choice only hinges on them when the reference has
-- at most five distinct values, so only those columns are looked at.
new_values as (

    select
        batch_values.batch_date,
        batch_values.model_version,
        batch_values.column_name,
        count(*) as new_values
    from batch_values
    inner join compared
        on
            batch_values.batch_date = compared.batch_date
            and batch_values.model_version = compared.model_version
            and batch_values.column_name = compared.column_name
    left join reference_values
        on
            batch_values.model_version = reference_values.model_version
            and batch_values.column_name = reference_values.column_name
            and (batch_values.value = reference_values.value or batch_values.category = reference_values.category)
    where compared.reference_distinct <= 5 and reference_values.model_version is null
    group by batch_values.batch_date, batch_values.model_version, batch_values.column_name

),

counted as (

    select
        compared.*,
        compared.reference_distinct + coalesce(new_values.new_values, 0) as distinct_values
    from compared
    left join new_values
        on
            compared.batch_date = new_values.batch_date
            and compared.model_version = new_values.model_version
            and compared.column_name = new_values.column_name

),

chosen as (

    select
        *,
        coalesce(
            configured_stat_test,
            case
                when reference_rows <= 1000 and column_kind = 'numerical' and distinct_values > 5 then 'ks'
                when reference_rows <= 1000 and distinct_values > 2 then 'chisquare'
                when reference_rows <= 1000 then 'z'
                when column_kind = 'numerical' and distinct_values > 5 then 'wasserstein'
                else 'jensenshannon'
            end
        ) as stat_test_key
    from counted

),

final as (

    select
        batch_date,
        model_version,
        column_name,
        column_kind,
        stat_test_key,
        {{ engine_stat_test_attribute('stat_test_key', 'display_name') }} as stat_test,
        coalesce(
            cast(configured_threshold as {{ type_double() }}),
            cast({{ engine_stat_test_attribute('stat_test_key', 'threshold') }} as {{ type_double() }})
        ) as threshold,
        reference_rows,
        current_rows,
        reference_distinct,
        distinct_values,
        -- stattests/utils.get_binned_data: numerical columns with over 20 reference values go to a
        -- histogram, everything else is compared value by value
        case
            when column_kind = 'numerical' and reference_distinct > 20 then 'histogram'
            else 'values'
        end as binning
    from chosen

)

select * from final
