{#-
    dbt's `where` test config, with one placeholder: `__window_start__` becomes the first day of
    the run's window (test_window_start, macros/incremental_window.sql). The tests of the
    day-incremental facts say `where: "sales_date >= __window_start__"` (dbt_project.yml), so a
    daily run tests the days it wrote, not the whole history. The placeholder is replaced when
    the test runs: a `{{ }}` in the config would be rendered at parse time, and a changed batch
    would then force dbt to parse the project again.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = where | replace('__window_start__', test_window_start() | trim) -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
