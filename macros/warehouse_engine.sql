{#- Building blocks of the warehouse engine (models/intermediate/warehouse_engine/), which
    reproduces in SQL what Evidently 0.7 writes to raw.batch_metrics. Evidently's own definitions live
    in evidently/legacy/calculations/stattests/ and data_drift.py; comments below cite them. -#}

{#- The stat tests the engine implements, keyed by Evidently's registered name: the name raw.batch_metrics
    reports (mlwatch.metrics reports every test by Evidently's display name), the default threshold, how
    the score compares with the threshold when Evidently calls it drift, and the column kinds Evidently
    allows. K-S, chi-square and Z are p-values: SQL computes their statistics and mlwatch.engines.p_values the
    p-values, as SQL has no Kolmogorov, chi-square or normal distribution. -#}
{% macro engine_stat_tests() -%}
    {{ return({
        'wasserstein': {'display_name': 'Wasserstein distance (normed)', 'threshold': 0.1, 'drift_when': '>=',
                        'kinds': ['numerical']},
        'jensenshannon': {'display_name': 'Jensen-Shannon distance', 'threshold': 0.1, 'drift_when': '>=',
                          'kinds': ['numerical', 'categorical']},
        'psi': {'display_name': 'PSI', 'threshold': 0.1, 'drift_when': '>=', 'kinds': ['numerical', 'categorical']},
        'ks': {'display_name': 'K-S p_value', 'threshold': 0.05, 'drift_when': '<=', 'kinds': ['numerical']},
        'chisquare': {'display_name': 'chi-square p_value', 'threshold': 0.05, 'drift_when': '<',
                      'kinds': ['categorical']},
        'z': {'display_name': 'Z-test p_value', 'threshold': 0.05, 'drift_when': '<', 'kinds': ['categorical']},
    }) }}
{%- endmacro %}

{#- `case` over the implemented tests: one attribute of the test named by `key_column`. -#}
{% macro engine_stat_test_attribute(key_column, attribute) -%}
    case {{ key_column }}
        {%- for name, test in engine_stat_tests().items() %}
        when '{{ name }}' then {% if test[attribute] is string %}'{{ test[attribute] }}'{% else %}{{ test[attribute] }}{% endif %}
        {%- endfor %}
    end
{%- endmacro %}

{#- Evidently's drift flag for a score: distances drift from the threshold up, p-values below it. -#}
{% macro engine_drift_detected(key_column, score, threshold) -%}
    case {{ key_column }}
        {%- for name, test in engine_stat_tests().items() %}
        when '{{ name }}' then {{ score }} {{ test.drift_when }} {{ threshold }}
        {%- endfor %}
    end
{%- endmacro %}

{#- The seed's columns (name, role, kind) for the given roles, read when dbt executes: SQL needs the
    column names themselves to unpivot the rows. Before the seed is loaded (e.g. `dbt docs generate`
    on a fresh warehouse) there is nothing to read, and the models compile to empty selects. -#}
{% macro engine_columns(roles) -%}
    {%- set seed = ref('monitored_columns') -%}
    {%- if not execute or load_relation(seed) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set rows = run_query(
        'select column_name, role, stat_test from ' ~ seed ~ ' order by column_name'
    ).rows -%}
    {%- set tests = engine_stat_tests() -%}
    {%- set columns = [] -%}
    {%- for row in rows if row['role'] in roles -%}
        {%- set kind = 'categorical' if row['role'] == 'categorical_feature' else 'numerical' -%}
        {%- set stat_test = row['stat_test'] -%}
        {%- if stat_test and stat_test not in tests -%}
            {{ exceptions.raise_compiler_error(
                "seeds/monitored_columns.csv asks for stat test '" ~ stat_test ~ "' on column '" ~ row['column_name']
                ~ "'; the warehouse engine implements " ~ (tests.keys() | list | join(', '))
                ~ ". Use `mlwatch metrics --engine evidently` for other tests.") }}
        {%- endif -%}
        {%- if stat_test and kind not in tests[stat_test]['kinds'] -%}
            {{ exceptions.raise_compiler_error(
                "Stat test '" ~ stat_test ~ "' does not apply to " ~ kind ~ " column '" ~ row['column_name']
                ~ "' (Evidently allows it for " ~ (tests[stat_test]['kinds'] | join(', ')) ~ " columns only)") }}
        {%- endif -%}
        {%- do columns.append({'name': row['column_name'], 'role': row['role'], 'kind': kind}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{% macro engine_drift_roles() -%}
    {{ return(['numerical_feature', 'categorical_feature', 'prediction']) }}
{%- endmacro %}

{#- The values a drift test sees: Evidently drops missing and infinite ones first
    (data_drift.get_one_column_drift). NaN equals itself in both DuckDB and Postgres. -#}
{% macro engine_is_observed(column) -%}
    {%- if column.kind == 'numerical' -%}
        {{ column.name }} not in (
            cast('Infinity' as {{ type_double() }}), cast('-Infinity' as {{ type_double() }}), cast('NaN' as {{ type_double() }})
        )
    {%- else -%}
        {{ column.name }} is not null
    {%- endif -%}
{%- endmacro %}

{#- pandas counts NaN as missing (MissingValueCount); SQL keeps NaN apart from null. -#}
{% macro engine_is_missing(column) -%}
    {%- if column.kind == 'numerical' -%}
        ({{ column.name }} is null or {{ column.name }} = cast('NaN' as {{ type_double() }}))
    {%- else -%}
        {{ column.name }} is null
    {%- endif -%}
{%- endmacro %}

{#- The value a drift test sees: numerical columns as doubles, categorical ones as text labels. -#}
{% macro engine_observed_value(column) -%}
    {%- if column.kind == 'numerical' -%}
        cast({{ column.name }} as {{ type_double() }}) as value,
        cast(null as {{ dbt.type_string() }}) as category
    {%- else -%}
        cast(null as {{ type_double() }}) as value,
        cast({{ column.name }} as {{ dbt.type_string() }}) as category
    {%- endif -%}
{%- endmacro %}

{#- One row per distinct observed value of each column of `roles`, with its count, grouped by `keys`;
    numerical values also carry their running count within the column (the rows up to and including the
    value), so a CDF at any point is one lookup away. Each column takes its running count on its own rows:
    one window over all columns' rows costs Postgres a third more. The running sum adds doubles, exact for
    counts below 2^53: a sum of bigints is a 128-bit integer in DuckDB and a numeric in Postgres, and took
    DuckDB 8.6 s instead of 6.2 s on the year's 11.8 million distinct predictions. `profiled`, when given, skips
    (model version, column) pairs that relation already holds. -#}
{% macro engine_value_counts(relation, keys, roles, profiled=none) -%}
    {%- set columns = engine_columns(roles) -%}
    {%- for column in columns %}
    select
        {{ keys | join(', ') }},
        '{{ column.name }}' as column_name,
        '{{ column.kind }}' as column_kind,
        {{ engine_observed_value(column) }},
        count(*) as value_count,
        {%- if column.kind == 'numerical' %}
        cast(sum(cast(count(*) as {{ type_double() }})) over (
            partition by {{ keys | join(', ') }} order by {{ column.name }} rows between unbounded preceding and current row
        ) as bigint) as cumulative_count,
        cast(lead({{ column.name }}) over (
            partition by {{ keys | join(', ') }} order by {{ column.name }}
        ) as {{ type_double() }}) as next_value
        {%- else %}
        cast(null as bigint) as cumulative_count,
        cast(null as {{ type_double() }}) as next_value
        {%- endif %}
    from {{ relation }}
    where
        {{ engine_is_observed(column) }}
        {%- if profiled is not none %}
        and model_version not in (
            select already.model_version from {{ profiled }} as already
            where already.column_name = '{{ column.name }}'
        )
        {%- endif %}
    group by {{ keys | join(', ') }}, {{ column.name }}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        {{ keys | join(', ') }},
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as column_kind,
        cast(null as {{ type_double() }}) as value,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(0 as bigint) as value_count,
        cast(null as bigint) as cumulative_count,
        cast(null as {{ type_double() }}) as next_value
    from {{ relation }}
    where false
    {%- endfor %}
{%- endmacro %}

{#- The batch dates this run computes, by MLWATCH_ENGINE_BATCH_DATES: `pending`, as mlwatch.engines.warehouse
    sets it, for the days it wrote to raw.engine_batch_dates (so the SQL is the same whatever the days, and
    mlwatch.replay can repeat it); a comma-separated list of dates; or, unset, every production day. An
    environment variable, not a var: dbt re-parses only the files that read it when it changes, where changed
    vars cost a full re-parse of the project (seconds) on this run and on the next one. The models that call it
    ref stg_monitoring__engine_batch_dates themselves (`do ref(...)`): dbt records the refs called while it parses,
    when the variable is usually unset. -#}
{% macro engine_batch_dates_filter(column) -%}
    {%- set dates = env_var('MLWATCH_ENGINE_BATCH_DATES', '') -%}
    {%- if dates == '' -%}
        {{ column }} is not null
    {%- elif dates == 'pending' -%}
        {{ column }} in (select batch_date from {{ ref('stg_monitoring__engine_batch_dates') }})
    {%- else -%}
        {{ column }} in (
            {%- for day in dates.split(',') %}
            {{ engine_date_literal(day) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{% macro engine_date_literal(day) -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day | string) -%}
        {{ exceptions.raise_compiler_error("MLWATCH_ENGINE_BATCH_DATES: '" ~ day ~ "' is not a YYYY-MM-DD date") }}
    {%- endif -%}
    cast('{{ day }}' as date)
{%- endmacro %}

{#- Postgres indexes for the as-of lookups below; DuckDB's ASOF join sorts instead and needs none. -#}
{% macro engine_lookup_indexes(column_lists) -%}
    {%- if target.type != 'postgres' -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set indexes = [] -%}
    {%- for columns in column_lists -%}
        {%- do indexes.append({'columns': columns}) -%}
    {%- endfor -%}
    {{ return(indexes) }}
{%- endmacro %}

{#- dbt-postgres names each index by a hash of the time of the run, as the index of the table being replaced
    still holds its name when the new table's is created (dbt-core issue 1945). A name that differs on every run
    is not one mlwatch.replay can repeat: Postgres names them instead, never a name in use
    (<table>_<columns>_idx, then idx1). -#}
{% macro postgres__get_create_index_sql(relation, index_dict) -%}
    {%- set index_config = adapter.parse_index(index_dict) -%}
    create {% if index_config.unique %}unique {% endif %}index
    on {{ relation }} {% if index_config.type %}using {{ index_config.type }} {% endif -%}
    ({{ index_config.columns | join(', ') }})
{%- endmacro %}

{#- `left join` to the one row of `relation` nearest to `probe`: with `op` '>=' the greatest
    `ordered` <= probe, with '>' the greatest < probe, with '<=' the least >= probe. `equal` pairs
    a probe-side expression with a column of `relation` that must match. Pass a model (ref), not a
    CTE: Postgres answers each probe from the model's index (engine_lookup_indexes), and a CTE used
    twice is materialized without one. `probes` names the relation the probe-side expressions come
    from (their qualifier): DuckDB then sorts only the groups of `relation` some probe asks for (the
    batch values of the few histogram columns, not the year's 15 million). When the probes are about
    as many as `relation`'s rows, set `merge` and name the columns of `relation` the query reads as
    `columns`: Postgres then sorts both sides together once and carries each step forward to the probes
    after it, as DuckDB's ASOF join does, instead of one index probe per row (three times faster on a
    month's 67,000 batch points). -#}
{% macro asof_left_join(relation, alias, equal, probe, op, ordered, probes=none, columns=none, merge=false) -%}
    {{ return(adapter.dispatch('asof_left_join', 'mlwatch')(relation, alias, equal, probe, op, ordered, probes, columns, merge)) }}
{%- endmacro %}

{% macro duckdb__asof_left_join(relation, alias, equal, probe, op, ordered, probes=none, columns=none, merge=false) -%}
    {%- if probes is none %}
    asof left join {{ relation }} as {{ alias }}
    {%- else %}
    asof left join (
        select * from {{ relation }} as candidates
        where exists (
            select 1 from {{ probes }}
            where
                {%- for left, right in equal %}
                {{ left }} = candidates.{{ right }}{% if not loop.last %} and{% endif %}
                {%- endfor %}
        )
    ) as {{ alias }}
    {%- endif %}
        on
            {%- for left, right in equal %}
            {{ left }} = {{ alias }}.{{ right }} and
            {%- endfor %}
            {{ probe }} {{ op }} {{ alias }}.{{ ordered }}
{%- endmacro %}

{% macro default__asof_left_join(relation, alias, equal, probe, op, ordered, probes=none, columns=none, merge=false) -%}
    {%- if not merge %}
    left join lateral (
        select candidates.*
        from {{ relation }} as candidates
        where
            {%- for left, right in equal %}
            candidates.{{ right }} = {{ left }} and
            {%- endfor %}
            {{ probe }} {{ op }} candidates.{{ ordered }}
        order by candidates.{{ ordered }} {{ 'asc' if op in ('<=', '<') else 'desc' }}
        limit 1
    ) as {{ alias }} on true
    {%- else %}
    {%- set keys %}{% for _ in equal %}key_{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %}{% endset %}
    {#- a step equal to the probe matches it for >= and <=, so it sorts first -#}
    left join (
        select
            {{ keys }},
            ordered_value,
            is_probe,
            {%- for column in columns %}
            first_value({{ column }}) over located_steps as {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from (
            select
                *,
                sum(1 - is_probe) over (
                    partition by {{ keys }}
                    order by
                        ordered_value {{ 'desc' if op in ('<=', '<') else 'asc' }},
                        is_probe {{ 'asc' if op in ('>=', '<=') else 'desc' }}
                    rows between unbounded preceding and current row
                ) as step_number
            from (
                select
                    {%- for _, right in equal %}
                    steps.{{ right }} as key_{{ loop.index }},
                    {%- endfor %}
                    steps.{{ ordered }} as ordered_value,
                    0 as is_probe,
                    {%- for column in columns %}
                    steps.{{ column }}{% if not loop.last %},{% endif %}
                    {%- endfor %}
                from {{ relation }} as steps
                where steps.{{ ordered }} is not null
                union all
                select
                    {{ keys }},
                    ordered_value,
                    1,
                    {%- for column in columns %}
                    null{% if not loop.last %},{% endif %}
                    {%- endfor %}
                from (
                    select distinct
                        {%- for left, _ in equal %}
                        {{ left }} as key_{{ loop.index }},
                        {%- endfor %}
                        {{ probe }} as ordered_value
                    from {{ probes }}
                ) as distinct_probes
            ) as merged
        ) as numbered
        window located_steps as (partition by {{ keys }}, step_number order by is_probe)
    ) as {{ alias }}
        on
            {%- for left, _ in equal %}
            {{ alias }}.key_{{ loop.index }} = {{ left }} and
            {%- endfor %}
            {{ alias }}.ordered_value = {{ probe }}
            and {{ alias }}.is_probe = 1
    {%- endif %}
{%- endmacro %}

{#- Spark has neither ASOF nor LATERAL joins: each candidate row carries the next (or previous) row's
    `ordered` of its group, and the probe falls in the half-open range between the two. `ordered` must be
    unique within a group, as in the value profiles this joins. -#}
{% macro spark__asof_left_join(relation, alias, equal, probe, op, ordered, probes=none, columns=none, merge=false) -%}
    {%- set following = op in ('>=', '>') -%}
    {%- set partition = equal | map(attribute=1) | join(', ') -%}
    left join (
        select
            candidates.*,
            {{ 'lead' if following else 'lag' }}(candidates.{{ ordered }}) over (
                partition by {{ partition }} order by candidates.{{ ordered }}
            ) as asof_bound
        from {{ relation }} as candidates
    ) as {{ alias }}
        on
            {%- for left, right in equal %}
            {{ left }} = {{ alias }}.{{ right }} and
            {%- endfor %}
            {{ probe }} {{ op }} {{ alias }}.{{ ordered }}
            and (
                {{ alias }}.asof_bound is null
                or {{ probe }} {{ {'>=': '<', '>': '<=', '<=': '>', '<': '>='}[op] }} {{ alias }}.asof_bound
            )
{%- endmacro %}

{#- numpy's log2 for the Sturges bin count (np.histogram_bin_edges(bins='sturges')). Postgres has no
    double-precision log2; its numeric log is exact on powers of two, where the bin count turns. -#}
{% macro engine_log2(expression) -%}
    {{ return(adapter.dispatch('engine_log2', 'mlwatch')(expression)) }}
{%- endmacro %}

{% macro duckdb__engine_log2(expression) -%}
    log2({{ expression }})
{%- endmacro %}

{#- Spark's log2 is ln(x) / ln(2), an ulp off on some powers of two: those are taken exactly. -#}
{% macro spark__engine_log2(expression) -%}
    case
        when {{ expression }} = pow(2, round(log2({{ expression }}))) then round(log2({{ expression }}))
        else log2({{ expression }})
    end
{%- endmacro %}

{% macro default__engine_log2(expression) -%}
    cast(log(cast(2 as numeric), cast({{ expression }} as numeric)) as {{ type_double() }})
{%- endmacro %}

{#- Settings of the connection that builds the engine's models (a pre-hook of each; they hold for the rest of
    that dbt run). DuckDB takes up to 80% of the machine's memory by default, and a year of batches would use
    ~10 GB of it; within this limit it spills its aggregates and sorts to disk instead, a little slower.
    Postgres' default work_mem (4 MB) is the opposite: its sorts and hashes of a month's batch values already
    spill to disk; each sort or hash of a query may use this much. Postgres also misjudges the size of the
    models' joins (three equal keys, taken as independent, make millions of batch points look like a few
    rows) and then joins them by nested loops, or merges on two keys and filters on the third: hours at a
    year's size. The engine's joins are all bulk equi-joins, which hashing serves; a lateral look-up, which
    has no other plan, keeps its nested loop, priced at the planner's cost of a disabled plan (10^10). That price
    is over every JIT threshold, so each query with a look-up was compiled, inlined and optimized first: 2.4 s
    for the month's bins, whose execution takes 0.07 s. These queries are short; JIT is off. -#}
{% macro engine_session_settings() -%}
    {{ return(adapter.dispatch('engine_session_settings', 'mlwatch')()) }}
{%- endmacro %}

{% macro duckdb__engine_session_settings() -%}
    set memory_limit = '{{ var("engine_duckdb_memory_limit", "1GB") }}'
{%- endmacro %}

{% macro postgres__engine_session_settings() -%}
    set work_mem = '{{ var("engine_postgres_work_mem", "256MB") }}';
    set enable_nestloop = off;
    set enable_mergejoin = off;
    set jit = off
{%- endmacro %}

{% macro default__engine_session_settings() -%}
{%- endmacro %}

{#- Postgres: each engine table's statistics as soon as it is built (a post-hook), for the models that read it next.
    Left to autovacuum, they may or may not be there when the next query is planned, and without them Postgres
    takes the month's 67,000 batch values for a few rows: the same query then took 0.6 s or 10.7 s by the race. -#}
{% macro engine_table_statistics() -%}
    {{ return(adapter.dispatch('engine_table_statistics', 'mlwatch')()) }}
{%- endmacro %}

{% macro postgres__engine_table_statistics() -%}
    {%- if config.get('materialized') != 'view' -%}
    analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{% macro default__engine_table_statistics() -%}
{%- endmacro %}
