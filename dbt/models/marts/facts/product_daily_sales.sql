-- One row per product and invoice day with a sale or cancellation line: the day's sale
-- invoices, units and revenue, and its cancelled units and revenue. Incremental by invoice day
-- (dbt_project.yml), so a daily run reads its window's lines only; product_performance sums
-- these rows instead of scanning every line of the history. Revenue sums stay exact (the
-- lines' three decimals): the marts round once, over the whole history.
with

lines as (

    select * from {{ ref('fct_order_lines') }}
    where line_type in ('sale', 'cancellation')
    {% if is_incremental() -%}
        and sales_date >= {{ window_start('sales_date') }}
    {%- endif %}

),

final as (

    select
        cast(sales_date as date) as sales_date,
        cast(stock_code as varchar) as stock_code,
        cast(count(*) filter (where line_type = 'sale') as bigint) as sale_lines,
        -- An invoice has one invoice day, so summing a product's days counts each invoice once.
        cast(count(distinct invoice_no) filter (where line_type = 'sale') as bigint) as orders,
        cast(coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as bigint) as units_sold,
        cast(coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as decimal(38, 3))
            as gross_revenue,
        cast(coalesce(-sum(quantity) filter (where line_type = 'cancellation'), 0) as bigint)
            as units_cancelled,
        cast(coalesce(-sum(revenue) filter (where line_type = 'cancellation'), 0) as decimal(38, 3))
            as cancelled_revenue

    from lines
    group by sales_date, stock_code

)

select * from final
