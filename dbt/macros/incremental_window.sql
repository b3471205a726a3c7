{#-
    The incremental window of fact and mart models: every day from `window_start()` on is
    deleted and rebuilt (delete+insert), so late and re-delivered raw files correct the days
    they touch. With the DAG's `batch_start` the window starts `lookback_days` before the
    batch (the loader sweeps the same lookback for late files); without it, `lookback_days`
    before the newest day already built.
-#}
{% macro window_start(date_column='sales_date') -%}
    {%- if var('batch_start') -%}
        (date '{{ var("batch_start") }}' - interval {{ var('lookback_days') | int }} day)::date
    {%- else -%}
        (
            select coalesce(max({{ date_column }}), date '1900-01-01')
                - interval {{ var('lookback_days') | int }} day
            from {{ this }}
        )::date
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of incremental models: drop the window's days first, even days that now have no
    rows at all (delete+insert by key alone would keep those). -#}
{% macro delete_window(date_column='sales_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ date_column }} >= {{ window_start(date_column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
