{#- Validity rules come from the `input_rules` and `target_rules` vars. Each rule becomes one boolean
    column `passes_<name>`; a null value fails its rule, so rows are flagged, never silently dropped. -#}
{% macro rule_condition(rule) -%}
    {%- set checks = [] -%}
    {%- if rule.min is not none and rule.min is defined -%}
        {%- do checks.append(rule.column ~ (' >= ' if rule.get('min_inclusive', true) else ' > ') ~ rule.min) -%}
    {%- endif -%}
    {%- if rule.max is not none and rule.max is defined -%}
        {%- do checks.append(rule.column ~ (' <= ' if rule.get('max_inclusive', true) else ' < ') ~ rule.max) -%}
    {%- endif -%}
    {%- if checks | length == 0 -%}
        {{ exceptions.raise_compiler_error("Validity rule '" ~ rule.name ~ "' sets neither min nor max") }}
    {%- endif -%}
    coalesce({{ checks | join(' and ') }}, false)
{%- endmacro %}

{% macro all_rules() -%}
    {{ return(var('input_rules') + var('target_rules')) }}
{%- endmacro %}

{#- The conjunction of the `passes_<name>` flags of one rule kind ('input' or 'target'). -#}
{% macro passes_all(kind) -%}
    {%- set rules = var(kind ~ '_rules') -%}
    {%- if rules | length == 0 -%}
        true
    {%- else -%}
        {%- for rule in rules %}passes_{{ rule.name }}{% if not loop.last %} and {% endif %}{% endfor -%}
    {%- endif -%}
{%- endmacro %}
