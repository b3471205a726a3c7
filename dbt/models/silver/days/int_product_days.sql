-- One row per product and invoice day: what the product's SCD2 versions are computed from
-- (int_product_versions), so that a run scans only its window's lines, not the whole history.
-- Incremental by invoice day (dbt_project.yml).
with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}
    {% if is_incremental() -%}
    where sales_date >= {{ window_start() }}
    {%- endif %}

),

priced as (

    -- A day's list price is its most frequent unit price among priced lines (ties: the higher).
    select
        *,
        count(*) over (partition by stock_code, sales_date, unit_price) as price_lines

    from lines
    where unit_price > 0

),

priced_days as (

    select
        stock_code,
        sales_date,
        arg_max(description, (invoiced_at, source_key, source_row_number))
        filter (where description is not null) as priced_description,
        arg_max(unit_price, (price_lines, unit_price)) as list_price

    from priced
    group by stock_code, sales_date

),

all_days as (

    select
        stock_code,
        sales_date,
        bool_or(is_product) as is_product,
        -- The day's last description (of any line), and the line it came from, so the
        -- versions model can pick the product's last description over all days.
        arg_max(description, (invoiced_at, source_key, source_row_number))
        filter (where description is not null) as last_description,
        max(invoiced_at) filter (where description is not null) as last_described_at,
        arg_max(source_key, (invoiced_at, source_key, source_row_number))
        filter (where description is not null) as last_described_key,
        arg_max(source_row_number, (invoiced_at, source_key, source_row_number))
        filter (where description is not null) as last_described_row

    from lines
    group by stock_code, sales_date

),

final as (

    select
        a.stock_code,
        a.sales_date,
        a.is_product,
        a.last_description,
        a.last_described_at,
        a.last_described_key,
        a.last_described_row,
        p.stock_code is not null as has_priced_lines,
        p.priced_description,
        p.list_price

    from all_days as a
    left join priced_days as p on a.stock_code = p.stock_code and a.sales_date = p.sales_date

)

select * from final
