{#- The warehouse engine's metrics in raw.batch_metrics' shape: the same keys, names and values the
    Evidently engine writes (mlwatch.metrics), for the days this run computes. A view, because the
    p-value tests' scores land in raw.drift_p_values (stg_monitoring__drift_p_values) after dbt has
    built the engine's models; the drift flags and the dataset-level counts are derived here from
    whatever is there when mlwatch copies the rows. -#}
{%- do ref('stg_monitoring__engine_batch_dates') %}
{{ config(materialized='view') }}
{%- set drift_share = var('drift_share') %}
{#- One entry per metric, in the Evidently engine's order: its name (or `name_column`, the column holding
    it), the CTE its rows come from and the SQL of raw.batch_metrics' fields; `column` is '' for
    dataset-level metrics, a field left out is null. -#}
{#- a day none of whose labels has landed yet has no target column, so no statistics of it -#}
{%- set numerical_statistics = "column_kind = 'numerical' and not is_unlabelled_target" %}
{%- set metrics = [
    {'name': 'row_count', 'from': 'row_counts', 'column': "''", 'value': 'row_count'},
    {'name': 'drift_score', 'from': 'column_drift', 'value': 'drift_score', 'stat_test': 'stat_test',
     'threshold': 'threshold', 'drift_detected': 'drift_detected'},
    {'name': 'drifted_columns_count', 'from': 'dataset_drift', 'column': "''", 'value': 'drifted_columns'},
    {'name': 'drifted_columns_share', 'from': 'dataset_drift', 'column': "''", 'value': 'drifted_share',
     'threshold': drift_share},
    {'name': 'dataset_drift', 'from': 'dataset_drift', 'column': "''", 'value': 'dataset_drift_value',
     'stat_test': "'share of drifted columns'", 'threshold': drift_share, 'drift_detected': 'dataset_drift'},
    {'name': 'missing_count', 'from': 'column_health', 'value': 'missing_count'},
    {'name': 'missing_share', 'from': 'column_health', 'value': 'missing_share'},
    {'name': 'missing_values_count', 'from': 'dataset_missing', 'column': "''", 'value': 'missing_count'},
    {'name': 'missing_values_share', 'from': 'dataset_missing', 'column': "''", 'value': 'missing_share'},
    {'name': 'min', 'from': 'column_health', 'value': 'min_value', 'where': numerical_statistics},
    {'name': 'max', 'from': 'column_health', 'value': 'max_value', 'where': numerical_statistics},
    {'name': 'mean', 'from': 'column_health', 'value': 'mean_value', 'where': numerical_statistics},
    {'name_column': 'quantile_name', 'from': 'quantiles', 'value': 'quantile_value'},
    {'name': 'out_of_range_count', 'from': 'column_health', 'value': 'out_of_range_count',
     'where': "column_kind = 'numerical' and out_of_range_count is not null"},
    {'name': 'out_of_range_share', 'from': 'column_health', 'value': 'out_of_range_share',
     'where': "column_kind = 'numerical' and out_of_range_count is not null"},
    {'name': 'new_category_count', 'from': 'column_health', 'value': 'new_category_count',
     'where': "column_kind = 'categorical'"},
    {'name': 'new_category_share', 'from': 'column_health', 'value': 'new_category_share',
     'where': "column_kind = 'categorical'"},
] %}

with

batch_dates as (

    select batch_date from {{ ref('int_batch_dates_spined') }}
    where {{ engine_batch_dates_filter('batch_date') }}

),

model_versions as (

    {{ monitored_model_versions() }}

),

batch_columns as (

    select
        *,
        row_count - missing_count as present_count
    from {{ ref('int_batch_columns_profiled') }}

),

-- shares of the present values; pandas gives NaN for a day whose column is all missing
column_health as (

    select
        batch_date,
        model_version,
        column_name,
        column_kind,
        missing_count,
        cast(missing_count as {{ type_double() }}) / cast(row_count as {{ type_double() }}) as missing_share,
        min_value,
        max_value,
        mean_value,
        out_of_range_count,
        case
            when present_count > 0 then cast(out_of_range_count as {{ type_double() }}) / present_count
            else cast('NaN' as {{ type_double() }})
        end as out_of_range_share,
        coalesce(new_category_count, 0) as new_category_count,
        column_role = 'target' and present_count = 0 as is_unlabelled_target,
        case
            when present_count > 0 then cast(coalesce(new_category_count, 0) as {{ type_double() }}) / present_count
            else cast('NaN' as {{ type_double() }})
        end as new_category_share
    from batch_columns

),

quantiles as (

    select * from {{ ref('int_batch_quantiles_computed') }}

),

drift_statistics as (

    select * from {{ ref('int_column_drift_computed') }}

),

p_values as (

    select * from {{ ref('stg_monitoring__drift_p_values') }}

),

-- SQL scores the distances; the p-value tests' scores are the p-values mlwatch computed from their statistics
column_scores as (

    select
        drift_statistics.batch_date,
        drift_statistics.model_version,
        drift_statistics.column_name,
        drift_statistics.stat_test_key,
        drift_statistics.stat_test,
        drift_statistics.threshold,
        coalesce(drift_statistics.drift_score, p_values.p_value) as drift_score
    from drift_statistics
    left join p_values
        on
            drift_statistics.batch_date = p_values.batch_date
            and drift_statistics.model_version = p_values.model_version
            and drift_statistics.column_name = p_values.column_name
            and drift_statistics.stat_test_key = p_values.stat_test_key

),

column_drift as (

    select
        *,
        {{ engine_drift_detected('stat_test_key', 'drift_score', 'threshold') }} as drift_detected
    from column_scores

),

drift_columns as (

    select cast(count(*) as {{ type_double() }}) as drift_columns
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

drifted as (

    select
        column_drift.batch_date,
        column_drift.model_version,
        cast(sum(case when column_drift.drift_detected then 1 else 0 end) as {{ type_double() }}) as drifted_columns,
        cast(sum(case when column_drift.drift_detected then 1 else 0 end) as {{ type_double() }})
        / max(drift_columns.drift_columns) as drifted_share
    from column_drift
    cross join drift_columns
    group by column_drift.batch_date, column_drift.model_version

),

-- DriftedColumnsCount's test fails, and the dataset drifts, unless share < drift_share
dataset_drift as (

    select
        *,
        case when drifted_share >= {{ drift_share }} then 1.0 else 0.0 end as dataset_drift_value,
        drifted_share >= {{ drift_share }} as dataset_drift
    from drifted

),

-- per cell of the monitored columns, as mlwatch.metrics defines it
dataset_missing as (

    select
        batch_date,
        model_version,
        cast(sum(missing_count) as {{ type_double() }}) as missing_count,
        cast(sum(missing_count) as {{ type_double() }}) / (cast(max(row_count) as {{ type_double() }}) * count(*))
            as missing_share
    from batch_columns
    -- a day none of whose labels has landed yet has no target column (mlwatch.engines.evidently, evaluate_batch)
    where not (column_role = 'target' and missing_count = row_count)
    group by batch_date, model_version

),

metrics as (

    {%- for metric in metrics %}

        select
            batch_date,
            model_version,
            {{ metric.name_column if 'name_column' in metric else "'" ~ metric.name ~ "'" }} as metric_name,
            {{ metric.column ~ ' as column_name' if 'column' in metric else 'column_name' }},
            cast({{ metric.value }} as {{ type_double() }}) as metric_value,
            cast({{ metric.get('stat_test', 'null') }} as {{ dbt.type_string() }}) as stat_test,
            cast({{ metric.get('threshold', 'null') }} as {{ type_double() }}) as threshold,
            cast({{ metric.get('drift_detected', 'null') }} as boolean) as drift_detected
        from {{ metric.from }}
        {%- if 'where' in metric %}
            where {{ metric.where }}
        {%- endif %}
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

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
        {{ utc_now() }} as computed_at
    from metrics

)

select * from final
