{#- Layers land in schemas named as configured (staging, intermediate, marts, seeds) rather than
    dbt's default <target_schema>_<custom>, so Grafana and BI tools find `marts` on every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
