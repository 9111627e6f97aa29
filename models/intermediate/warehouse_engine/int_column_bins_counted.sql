{#- The bins that Jensen-Shannon, PSI, chi-square and Z compare, with both sides' counts, as
    stattests/utils.get_binned_data builds them: one bin per value seen on either side, or, for a
    numerical column with over 20 reference values, Sturges bins over the two samples' joint range
    (np.histogram_bin_edges(bins='sturges'): edges i * (max - min) / bins + min, the last one max). -#}
with

tests as (

    select * from {{ ref('int_column_tests_chosen') }}
    where stat_test_key in ('jensenshannon', 'psi', 'chisquare', 'z')

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

series as (

    {{ dbt.generate_series(100) }}

),

value_sides as (

    select
        tests.batch_date,
        tests.model_version,
        tests.column_name,
        reference_values.value,
        reference_values.category,
        reference_values.value_count as reference_count,
        0 as current_count
    from tests
    inner join reference_values
        on
            tests.model_version = reference_values.model_version
            and tests.column_name = reference_values.column_name
    where tests.binning = 'values'

    union all

    select
        tests.batch_date,
        tests.model_version,
        tests.column_name,
        batch_values.value,
        batch_values.category,
        0 as reference_count,
        batch_values.value_count as current_count
    from tests
    inner join batch_values
        on
            tests.batch_date = batch_values.batch_date
            and tests.model_version = batch_values.model_version
            and tests.column_name = batch_values.column_name
    where tests.binning = 'values'

),

value_bins as (

    select
        batch_date,
        model_version,
        column_name,
        value as bin_start,
        category,
        cast(sum(reference_count) as bigint) as reference_count,
        cast(sum(current_count) as bigint) as current_count
    from value_sides
    group by batch_date, model_version, column_name, value, category

),

batch_ranges as (

    select
        batch_values.batch_date,
        batch_values.model_version,
        batch_values.column_name,
        min(batch_values.value) as min_value,
        max(batch_values.value) as max_value
    from batch_values
    inner join tests
        on
            batch_values.batch_date = tests.batch_date
            and batch_values.model_version = tests.model_version
            and batch_values.column_name = tests.column_name
    where tests.binning = 'histogram'
    group by batch_values.batch_date, batch_values.model_version, batch_values.column_name

),

spans as (

    select
        tests.batch_date,
        tests.model_version,
        tests.column_name,
        tests.reference_rows,
        tests.current_rows,
        least(reference_columns.min_value, batch_ranges.min_value) as first_edge,
        greatest(reference_columns.max_value, batch_ranges.max_value) as last_edge
    from tests
    inner join reference_columns
        on
            tests.model_version = reference_columns.model_version
            and tests.column_name = reference_columns.column_name
    inner join batch_ranges
        on
            tests.batch_date = batch_ranges.batch_date
            and tests.model_version = batch_ranges.model_version
            and tests.column_name = batch_ranges.column_name

),

ranges as (

    select
        *,
        -- numpy's bin count: ceil(range / width) with width = range / (log2(n) + 1), rounding included
        cast(ceil(
            (last_edge - first_edge)
            / ((last_edge - first_edge) / ({{ engine_log2('reference_rows + current_rows') }} + 1.0))
        ) as integer) as bin_count
    from spans

),

edges as (

    select
        ranges.batch_date,
        ranges.model_version,
        ranges.column_name,
        ranges.reference_rows,
        ranges.current_rows,
        ranges.bin_count,
        series.generated_number - 1 as edge_number,
        case
            when series.generated_number - 1 = ranges.bin_count then ranges.last_edge
            else cast(series.generated_number - 1 as {{ type_double() }})
                * ((ranges.last_edge - ranges.first_edge) / ranges.bin_count) + ranges.first_edge
        end as edge
    from ranges
    inner join series on series.generated_number - 1 <= ranges.bin_count

),

-- np.histogram counts a bin as [edge, next edge), the last one closed: counts below each edge, from
-- the running counts of each side, give every bin
edge_counts as (

    select
        edges.batch_date,
        edges.model_version,
        edges.column_name,
        edges.edge_number,
        edges.edge,
        case
            when edges.edge_number = 0 then 0
            when edges.edge_number = edges.bin_count then edges.reference_rows
            else coalesce(reference_below.cumulative_count, 0)
        end as reference_below,
        case
            when edges.edge_number = 0 then 0
            when edges.edge_number = edges.bin_count then edges.current_rows
            else coalesce(batch_below.cumulative_count, 0)
        end as current_below
    from edges
    {{ asof_left_join(
        ref('int_reference_values_profiled'), 'reference_below',
        [('edges.model_version', 'model_version'), ('edges.column_name', 'column_name')],
        'edges.edge', '>', 'value', probes='edges'
    ) }}
    {{ asof_left_join(
        ref('int_batch_values_counted'), 'batch_below',
        [('edges.batch_date', 'batch_date'), ('edges.model_version', 'model_version'),
         ('edges.column_name', 'column_name')],
        'edges.edge', '>', 'value', probes='edges'
    ) }}

),

histogram_bins as (

    select
        batch_date,
        model_version,
        column_name,
        lag(edge) over bins as bin_start,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(reference_below - lag(reference_below) over bins as bigint) as reference_count,
        cast(current_below - lag(current_below) over bins as bigint) as current_count,
        edge_number
    from edge_counts
    window bins as (partition by batch_date, model_version, column_name order by edge_number)

),

all_bins as (

    select
        batch_date,
        model_version,
        column_name,
        bin_start,
        category,
        reference_count,
        current_count
    from value_bins

    union all

    select
        batch_date,
        model_version,
        column_name,
        bin_start,
        category,
        reference_count,
        current_count
    from histogram_bins
    where edge_number > 0

),

final as (

    select
        all_bins.batch_date,
        all_bins.model_version,
        all_bins.column_name,
        all_bins.bin_start,
        all_bins.category,
        all_bins.reference_count,
        all_bins.current_count,
        tests.reference_rows,
        tests.current_rows
    from all_bins
    inner join tests
        on
            all_bins.batch_date = tests.batch_date
            and all_bins.model_version = tests.model_version
            and all_bins.column_name = tests.column_name

)

select * from final
