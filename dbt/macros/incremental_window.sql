{#-
    The incremental window of fact and mart models: every day from `window_start()` on is
    deleted and rebuilt (delete+insert), so late and re-delivered raw files correct the days
    they touch. With the batch's first day (the var `batch_start`, or the environment's
    LAKEHOUSE_BATCH_START, which the DAG sets) the window starts `lookback_days` before the
    batch (the loader sweeps the same lookback for late files); without it, `lookback_days`
    before the newest day already built. The DAG passes the day in the environment, not as a
    var: dbt reparses the whole project whenever its vars change, and only the files that
    read an environment variable when that changes.
-#}
{% macro window_start(date_column='sales_date') -%}
    {%- set from_batch = batch_window_start() -%}
    {%- if from_batch -%}
        {{ from_batch }}
    {%- else -%}
        (
            select coalesce(max({{ date_column }}), date '1900-01-01')
                - interval {{ var('lookback_days') | int }} day
            from {{ this }}
        )::date
    {%- endif -%}
{%- endmacro %}

{#- The window's first day from the batch (`lookback_days` before its first day), or '' when
    the run has no batch. -#}
{% macro batch_window_start() -%}
    {%- set batch_start = var('batch_start') or env_var('LAKEHOUSE_BATCH_START', '') -%}
    {%- if batch_start -%}
        (date '{{ batch_start }}' - interval {{ var('lookback_days') | int }} day)::date
    {%- endif -%}
{%- endmacro %}

{#- The first day a test of a day-incremental table checks: the batch's window, whose rows
    this run wrote, or every day when the run has no batch. -#}
{% macro test_window_start() -%}
    {{ batch_window_start() or "date '0001-01-01'" }}
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
