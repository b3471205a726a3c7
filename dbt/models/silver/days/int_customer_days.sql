-- One row per customer and invoice day: the country of their last line that day. What the
-- customer's SCD2 versions are computed from (int_customer_versions), so that a run scans only
-- its window's lines. Incremental by invoice day (dbt_project.yml).
with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}
    where customer_id is not null
    {% if is_incremental() -%}
    and sales_date >= {{ window_start() }}
    {%- endif %}

),

final as (

    select
        customer_id,
        sales_date,
        arg_max(country, (invoiced_at, source_key, source_row_number)) as country

    from lines
    group by customer_id, sales_date

)

select * from final
