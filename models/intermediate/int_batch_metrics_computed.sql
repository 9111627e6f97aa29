{#- The warehouse engine's metrics in raw.batch_metrics' shape: the same keys, names and values the
    Evidently engine writes (mlwatch.metrics), for the days this run computes. A view, because the
    p-value tests' scores land in int_column_drift_computed after dbt has built it; the drift flags and
    the dataset-level counts are derived here from whatever is there when mlwatch copies the rows. -#}
{{ config(materialized='view') }}
{%- set statistics = {'min': 'min_value', 'max': 'max_value', 'mean': 'mean_value'} %}

with

batch_dates as (

    select batch_date from {{ ref('int_batch_dates_spined') }}
    where {{ engine_batch_dates_filter('batch_date') }}

),

model_versions as (

    select model_version from {{ ref('stg_model__model_versions') }}
    where reference_month = '{{ var("reference_month") }}'

),

batch_columns as (

    select
        *,
        row_count - missing_count as present_count
    from {{ ref('int_batch_columns_profiled') }}

),

quantiles as (

    select * from {{ ref('int_batch_quantiles_computed') }}

),

column_drift as (

    select
        *,
        {{ engine_drift_detected('stat_test_key', 'drift_score', 'threshold') }} as drift_detected
    from {{ ref('int_column_drift_computed') }}

),

drift_columns as (

    select cast(count(*) as double precision) as drift_columns
    from {{ ref('monitored_columns') }}
    where role <> 'target'

),

-- an empty day has a row count of 0 and nothing else, as in the Evidently engine
row_counts as (

    select
        batch_dates.batch_date,
        model_versions.model_version,
        coalesce(max(batch_columns.row_count), 0) as row_count
    from batch_dates
    cross join model_versions
    left join batch_columns
        on
            batch_dates.batch_date = batch_columns.batch_date
            and model_versions.model_version = batch_columns.model_version
    group by batch_dates.batch_date, model_versions.model_version

),

dataset_drift as (

    select
        column_drift.batch_date,
        column_drift.model_version,
        cast(sum(case when column_drift.drift_detected then 1 else 0 end) as double precision) as drifted_columns,
        cast(sum(case when column_drift.drift_detected then 1 else 0 end) as double precision)
        / max(drift_columns.drift_columns) as drifted_share
    from column_drift
    cross join drift_columns
    group by column_drift.batch_date, column_drift.model_version

),

dataset_missing as (

    select
        batch_date,
        model_version,
        cast(sum(missing_count) as double precision) as missing_count,
        cast(max(row_count) as double precision) * count(*) as cells
    from batch_columns
    group by batch_date, model_version

),

metrics as (

    select
        batch_date,
        model_version,
        'row_count' as metric_name,
        '' as column_name,
        cast(row_count as double precision) as metric_value,
        cast(null as {{ dbt.type_string() }}) as stat_test,
        cast(null as double precision) as threshold,
        cast(null as boolean) as drift_detected
    from row_counts

    union all

    select
        batch_date,
        model_version,
        'drift_score' as metric_name,
        column_name,
        drift_score as metric_value,
        stat_test,
        threshold,
        drift_detected
    from column_drift

    union all

    select
        batch_date,
        model_version,
        'drifted_columns_count' as metric_name,
        '' as column_name,
        drifted_columns as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from dataset_drift

    union all

    select
        batch_date,
        model_version,
        'drifted_columns_share' as metric_name,
        '' as column_name,
        drifted_share as metric_value,
        null as stat_test,
        {{ var('drift_share') }} as threshold,
        null as drift_detected
    from dataset_drift

    union all

    -- DriftedColumnsCount's test fails, and the dataset drifts, unless share < drift_share
    select
        batch_date,
        model_version,
        'dataset_drift' as metric_name,
        '' as column_name,
        case when drifted_share >= {{ var('drift_share') }} then 1.0 else 0.0 end as metric_value,
        'share of drifted columns' as stat_test,
        {{ var('drift_share') }} as threshold,
        drifted_share >= {{ var('drift_share') }} as drift_detected
    from dataset_drift

    union all

    select
        batch_date,
        model_version,
        'missing_count' as metric_name,
        column_name,
        cast(missing_count as double precision) as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns

    union all

    select
        batch_date,
        model_version,
        'missing_share' as metric_name,
        column_name,
        cast(missing_count as double precision) / cast(row_count as double precision) as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns

    union all

    select
        batch_date,
        model_version,
        'missing_values_count' as metric_name,
        '' as column_name,
        missing_count as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from dataset_missing

    union all

    -- per cell of the monitored columns, as mlwatch.metrics defines it
    select
        batch_date,
        model_version,
        'missing_values_share' as metric_name,
        '' as column_name,
        missing_count / cells as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from dataset_missing
    {%- for metric_name, column in statistics.items() %}

        union all

        select
            batch_date,
            model_version,
            '{{ metric_name }}' as metric_name,
            column_name,
            {{ column }} as metric_value,
            null as stat_test,
            null as threshold,
            null as drift_detected
        from batch_columns
        where column_kind = 'numerical'
    {%- endfor %}

    union all

    select
        batch_date,
        model_version,
        quantile_name as metric_name,
        column_name,
        quantile_value as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from quantiles

    union all

    select
        batch_date,
        model_version,
        'out_of_range_count' as metric_name,
        column_name,
        cast(out_of_range_count as double precision) as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns
    where column_kind = 'numerical' and out_of_range_count is not null

    union all

    -- shares of the present values; pandas gives NaN for a day whose column is all missing
    select
        batch_date,
        model_version,
        'out_of_range_share' as metric_name,
        column_name,
        case
            when present_count > 0 then cast(out_of_range_count as double precision) / present_count
            else cast('NaN' as double precision)
        end as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns
    where column_kind = 'numerical' and out_of_range_count is not null

    union all

    select
        batch_date,
        model_version,
        'new_category_count' as metric_name,
        column_name,
        cast(coalesce(new_category_count, 0) as double precision) as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns
    where column_kind = 'categorical'

    union all

    select
        batch_date,
        model_version,
        'new_category_share' as metric_name,
        column_name,
        case
            when present_count > 0 then cast(coalesce(new_category_count, 0) as double precision) / present_count
            else cast('NaN' as double precision)
        end as metric_value,
        null as stat_test,
        null as threshold,
        null as drift_detected
    from batch_columns
    where column_kind = 'categorical'

),

final as (

    select
        batch_date,
        model_version,
        metric_name,
        column_name,
        metric_value,
        stat_test,
        threshold,
        drift_detected,
        'warehouse' as engine,
        cast({{ dbt.current_timestamp() }} at time zone 'UTC' as timestamp) as computed_at
    from metrics

)

select * from final
