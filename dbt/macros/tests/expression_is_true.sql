{#- Rows where `expression` is false fail the test (dbt_utils' test of the same name is not
    installable offline; this one takes the same arguments). -#}
{% test expression_is_true(model, expression, column_name=none, where=none) %}

    select *
    from {{ model }}
    where not ({{ expression }})
    {%- if where %} and ({{ where }}){% endif %}

{% endtest %}
