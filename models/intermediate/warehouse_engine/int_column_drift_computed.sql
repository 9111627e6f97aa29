{#- Evidently's drift score per batch date, model version and drift column, from the sufficient
    statistics of both sides. Distances are computed here; the p-value tests (K-S, chi-square, Z) leave
    `drift_score` null and carry their statistic, which mlwatch.engines.p_values turns into the p-value
    with scipy exactly as Evidently does (raw.drift_p_values, joined by int_batch_metrics_computed).

    The three per-test results are materialized CTEs: Postgres cannot estimate their size through the
    as-of look-ups and window functions, and once its statistics of the profiles are fresh it would
    re-run them for each row of `tests` (two minutes instead of two seconds on a month).

    Normed Wasserstein (stattests/wasserstein_distance_norm.py): scipy's integral of |F_ref - F_batch|
    over the merged support, divided by max(std_ref (ddof 0), 0.001). On each interval between two
    batch values F_batch is a constant k, and the integral of |F_ref - k| splits where F_ref reaches k;
    with A(x), the running integral of F_ref, every piece is a difference of A, so a batch only looks up
    its own points (and one crossing point each) in the reference profile.
    K-S statistic (scipy.stats.ks_2samp): the largest |F_ref - F_batch| over the merged support, which
    on each such interval sits at one of its ends. -#}
with

tests as (

    select * from {{ ref('int_column_tests_chosen') }}

),

reference_columns as (

    select * from {{ ref('int_reference_columns_profiled') }}

),

batch_values as (

    select * from {{ ref('int_batch_values_counted') }}

),

bins as (

    select * from {{ ref('int_column_bins_counted') }}

),

points as (

    select
        batch_values.batch_date,
        batch_values.model_version,
        batch_values.column_name,
        batch_values.value,
        batch_values.next_value,
        batch_values.cumulative_count = batch_values.value_count as is_first_point,
        cast(batch_values.cumulative_count as {{ type_double() }})
        / cast(tests.current_rows as {{ type_double() }}) as current_share,
        tests.stat_test_key
    from batch_values
    inner join tests
        on
            batch_values.batch_date = tests.batch_date
            and batch_values.model_version = tests.model_version
            and batch_values.column_name = tests.column_name
    where tests.stat_test_key in ('wasserstein', 'ks')

),

-- Each distinct value of a column is looked up in the reference profile once, not once per day
-- it occurs on: a year of days repeats most values, and the look-up sorts its probes.
point_values as (

    select distinct
        model_version,
        column_name,
        value
    from points

),

reference_at_values as (

    select
        point_values.model_version,
        point_values.column_name,
        point_values.value,
        coalesce(below.cumulative_share, 0) as reference_share,
        cast(
            coalesce(below.cumulative_count, 0)
            - case when below.value = point_values.value then below.value_count else 0 end
            as {{ type_double() }}
        ) / cast(reference_columns.reference_rows as {{ type_double() }}) as reference_share_before,
        coalesce(below.cdf_integral + below.cumulative_share * (point_values.value - below.value), 0) as cdf_integral
    from point_values
    inner join reference_columns
        on
            point_values.model_version = reference_columns.model_version
            and point_values.column_name = reference_columns.column_name
    {{ asof_left_join(
        ref('int_reference_values_profiled'), 'below',
        [('point_values.model_version', 'model_version'), ('point_values.column_name', 'column_name')],
        'point_values.value', '>=', 'value', probes='point_values', merge=true,
        columns=['value', 'value_count', 'cumulative_count', 'cumulative_share', 'cdf_integral']
    ) }}

),

-- each batch point with the reference's CDF and its integral there and at the batch's next value (not
-- materialized: the K-S and Wasserstein columns read disjoint parts of it)
stepped as {{ inlined_cte() }} (

    select
        points.batch_date,
        points.model_version,
        points.column_name,
        points.stat_test_key,
        points.value,
        points.next_value,
        points.is_first_point,
        points.current_share,
        at_value.reference_share,
        at_value.reference_share_before,
        at_value.cdf_integral,
        at_next_value.reference_share_before as next_reference_share_before,
        at_next_value.cdf_integral as next_cdf_integral
    from points
    inner join reference_at_values as at_value
        on
            points.model_version = at_value.model_version
            and points.column_name = at_value.column_name
            and points.value = at_value.value
    left join reference_at_values as at_next_value
        on
            points.model_version = at_next_value.model_version
            and points.column_name = at_next_value.column_name
            and points.next_value = at_next_value.value

),

ks_statistics as {{ materialized_cte() }} (

    select
        stepped.batch_date,
        stepped.model_version,
        stepped.column_name,
        max(greatest(
            abs(stepped.reference_share - stepped.current_share),
            coalesce(abs(stepped.next_reference_share_before - stepped.current_share), 0),
            case when stepped.is_first_point then stepped.reference_share_before else 0 end
        )) as test_statistic
    from stepped
    where stepped.stat_test_key = 'ks'
    group by stepped.batch_date, stepped.model_version, stepped.column_name

),

-- Interval [value, upper) of each batch point, with F_batch = current_share on it; past the last
-- batch value F_batch is 1 up to the reference's maximum.
intervals as (

    select
        stepped.batch_date,
        stepped.model_version,
        stepped.column_name,
        stepped.is_first_point,
        stepped.value,
        stepped.current_share,
        stepped.cdf_integral,
        coalesce(stepped.next_value, greatest(stepped.value, reference_columns.max_value)) as upper_value,
        coalesce(
            stepped.next_cdf_integral,
            reference_columns.max_cdf_integral + greatest(stepped.value, reference_columns.max_value)
            - reference_columns.max_value
        ) as upper_cdf_integral
    from stepped
    inner join reference_columns
        on
            stepped.model_version = reference_columns.model_version
            and stepped.column_name = reference_columns.column_name
    where stepped.stat_test_key = 'wasserstein'

),

-- The first reference value whose CDF reaches the interval's F_batch: F_ref < k before it, >= k after.
-- as with the points, each distinct share is looked up once
interval_shares as (

    select distinct
        model_version,
        column_name,
        current_share
    from intervals

),

crossings as (

    select
        interval_shares.model_version,
        interval_shares.column_name,
        interval_shares.current_share,
        crossing.value as crossing_value,
        crossing.cdf_integral as crossing_cdf_integral
    from interval_shares
    {{ asof_left_join(
        ref('int_reference_values_profiled'), 'crossing',
        [('interval_shares.model_version', 'model_version'), ('interval_shares.column_name', 'column_name')],
        'interval_shares.current_share', '<=', 'cumulative_share', probes='interval_shares', merge=true,
        columns=['value', 'cdf_integral']
    ) }}

),

crossed as (

    select
        intervals.*,
        case
            when crossing.crossing_value <= intervals.value then intervals.value
            when crossing.crossing_value >= intervals.upper_value then intervals.upper_value
            else crossing.crossing_value
        end as crossing_value,
        case
            when crossing.crossing_value <= intervals.value then intervals.cdf_integral
            when crossing.crossing_value >= intervals.upper_value then intervals.upper_cdf_integral
            else crossing.crossing_cdf_integral
        end as crossing_cdf_integral
    from intervals
    inner join crossings as crossing
        on
            intervals.model_version = crossing.model_version
            and intervals.column_name = crossing.column_name
            and intervals.current_share = crossing.current_share

),

wasserstein_distances as {{ materialized_cte() }} (

    select
        batch_date,
        model_version,
        column_name,
        -- below the first batch value F_batch is 0: the integral of F_ref up to it
        sum(case when is_first_point then cdf_integral else 0 end)
        + sum(
            current_share * (crossing_value - value) - (crossing_cdf_integral - cdf_integral)
            + (upper_cdf_integral - crossing_cdf_integral) - current_share * (upper_value - crossing_value)
        ) as distance
    from crossed
    group by batch_date, model_version, column_name

),

shares as (

    select
        *,
        cast(reference_count as {{ type_double() }}) / cast(reference_rows as {{ type_double() }}) as reference_share,
        cast(current_count as {{ type_double() }}) / cast(current_rows as {{ type_double() }}) as current_share,
        -- chi-square's expected counts: the reference's, scaled to the batch's size
        reference_count * (cast(current_rows as {{ type_double() }}) / cast(reference_rows as {{ type_double() }}))
            as expected_count,
        row_number() over (
            partition by batch_date, model_version, column_name order by bin_start, category
        ) as bin_number
    from bins

),

-- scipy.spatial.distance.jensenshannon normalises both sides and sums rel_entr, which is 0 where a
-- share is 0; PSI (stattests/psi.py) first replaces each side's empty bins by a small share.
weighed as (

    select
        *,
        (current_count - expected_count) * (current_count - expected_count) as squared_excess,
        reference_share / sum(reference_share) over bin_sides as reference_weight,
        current_share / sum(current_share) over bin_sides as current_weight,
        min(case when reference_share > 0 then reference_share end) over bin_sides as reference_smallest,
        min(case when current_share > 0 then current_share end) over bin_sides as current_smallest
    from shares
    window bin_sides as (partition by batch_date, model_version, column_name)

),

filled as (

    select
        *,
        (reference_weight + current_weight) / 2 as mean_weight,
        case
            when reference_share > 0 then reference_share
            when reference_smallest <= 0.0001 then reference_smallest / 1000000
            else 0.0001
        end as reference_filled,
        case
            when current_share > 0 then current_share
            when current_smallest <= 0.0001 then current_smallest / 1000000
            else 0.0001
        end as current_filled
    from weighed

),

binned_scores as (

    select
        batch_date,
        model_version,
        column_name,
        -- rounding can take a zero divergence a hair below 0, where sqrt fails on Postgres
        sqrt(greatest((
            sum(case when reference_weight > 0 then reference_weight * ln(reference_weight / mean_weight) else 0 end)
            + sum(case when current_weight > 0 then current_weight * ln(current_weight / mean_weight) else 0 end)
        ) / 2, 0)) as jensenshannon,
        sum((reference_filled - current_filled) * ln(reference_filled / current_filled)) as psi,
        -- a value the reference lacks has an expected count of 0, and scipy's statistic is infinite
        case
            when min(reference_count) = 0 then cast('Infinity' as {{ type_double() }})
            else sum(case when expected_count > 0 then squared_excess / expected_count end)
        end as chisquare,
        count(*) - 1 as degrees_of_freedom,
        count(*) as bin_count,
        -- Z-test (stattests/z_stattest.py): shares of rows off the first value; which value comes
        -- first only flips the statistic's sign, and the p-value is two-sided
        cast(max(reference_rows) - max(case when bin_number = 1 then reference_count end) as {{ type_double() }})
        / max(reference_rows) as reference_off_first,
        cast(max(current_rows) - max(case when bin_number = 1 then current_count end) as {{ type_double() }})
        / max(current_rows) as current_off_first,
        max(reference_rows) as reference_rows,
        max(current_rows) as current_rows
    from filled
    group by batch_date, model_version, column_name

),

pooled as (

    select
        *,
        (reference_off_first * reference_rows + current_off_first * current_rows)
        / (reference_rows + current_rows) as pooled_off_first,
        cast(1 as {{ type_double() }}) / reference_rows + cast(1 as {{ type_double() }}) / current_rows as inverse_sizes
    from binned_scores

),

binned_statistics as {{ materialized_cte() }} (

    select
        *,
        case
            when bin_count > 1
                then
                    (reference_off_first - current_off_first)
                    / sqrt(pooled_off_first * (1 - pooled_off_first) * inverse_sizes)
        end as z_statistic
    from pooled

),

final as (

    select
        tests.batch_date,
        tests.model_version,
        tests.column_name,
        tests.column_kind,
        tests.stat_test_key,
        tests.stat_test,
        tests.threshold,
        case tests.stat_test_key
            when 'wasserstein' then wasserstein_distances.distance / greatest(reference_columns.std_value, 0.001)
            when 'jensenshannon' then binned_statistics.jensenshannon
            when 'psi' then binned_statistics.psi
        end as drift_score,
        case tests.stat_test_key
            when 'ks' then ks_statistics.test_statistic
            when 'chisquare' then binned_statistics.chisquare
            -- one value on both sides: Evidently's p-value is 1, a statistic of 0
            when 'z' then coalesce(binned_statistics.z_statistic, 0)
        end as test_statistic,
        case when tests.stat_test_key = 'chisquare' then binned_statistics.degrees_of_freedom end
            as degrees_of_freedom,
        tests.reference_rows,
        tests.current_rows
    from tests
    inner join reference_columns
        on
            tests.model_version = reference_columns.model_version
            and tests.column_name = reference_columns.column_name
    left join wasserstein_distances
        on
            tests.batch_date = wasserstein_distances.batch_date
            and tests.model_version = wasserstein_distances.model_version
            and tests.column_name = wasserstein_distances.column_name
    left join ks_statistics
        on
            tests.batch_date = ks_statistics.batch_date
            and tests.model_version = ks_statistics.model_version
            and tests.column_name = ks_statistics.column_name
    left join binned_statistics
        on
            tests.batch_date = binned_statistics.batch_date
            and tests.model_version = binned_statistics.model_version
            and tests.column_name = binned_statistics.column_name

)

select * from final
