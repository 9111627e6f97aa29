{#- A 64-bit float. Spark SQL (and Databricks, which falls back to spark__) spells it `double` only;
    DuckDB's `float` would be 32 bits, so dbt.type_float() cannot serve both. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'mlwatch')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- `as materialized (...)`: Postgres and DuckDB compute such a CTE once (see int_column_drift_computed);
    Spark SQL has no such hint and plans every CTE itself. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'mlwatch')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
    materialized
{%- endmacro %}

{% macro spark__materialized_cte() -%}
{%- endmacro %}

{#- A CTE read by several branches: DuckDB computes it in each of them from the table, as `not materialized`
    asks, where it would otherwise write it out once in full and read that back, which at a year's rows costs
    more than the column scans it saves (three times slower in int_batch_values_counted). Postgres keeps
    computing it once: its scans read whole rows. Inlined, the year's value counts took 133 s instead of 157 s
    (a table is scanned in parallel, a CTE read back is not), but one new day took 61 s instead of 15 s: each
    of the eight branches scanned the whole year's table for the day's rows (bench/README.md, fourth session). -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'mlwatch')()) }}
{%- endmacro %}

{% macro duckdb__inlined_cte() -%}
    not materialized
{%- endmacro %}

{% macro default__inlined_cte() -%}
{%- endmacro %}

{#- Now, as a timestamp without zone in UTC, as the Python steps stamp their rows. -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'mlwatch')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    cast({{ dbt.current_timestamp() }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- Spark has no `at time zone`: the session's zone is UTC (profiles/profiles.yml), which the cast applies. -#}
{% macro spark__utc_now() -%}
    cast(current_timestamp() as timestamp)
{%- endmacro %}

{#- dbt-spark's listagg drops the order (it warns and collects in any order); Spark 4 has the standard one. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with limit_num is not implemented for Spark") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}

{#- dbt-spark's session method pastes seed values into the SQL unescaped: a quote in a description breaks
    the insert and an empty cell becomes the text 'None'. Values as escaped literals instead. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        {%- set literal = 'null' -%}
                    {%- elif value is number -%}
                        {%- set literal = value | string -%}
                    {%- else -%}
                        {%- set literal = "'" ~ (value | string).replace('\\', '\\\\').replace("'", "\\'") ~ "'" -%}
                    {%- endif -%}
                    cast({{ literal }} as {{ type }}){% if not loop.last %}, {% endif %}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}
