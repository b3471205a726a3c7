-- One row per customer and invoice day with a sale or cancellation line (lines without a
-- customer are left out): the day's sale invoices and sale revenue, and its cancellation
-- revenue (negative, as on the lines). Incremental by invoice day (dbt_project.yml), so a
-- daily run reads its window's lines only; customer_rfm and monthly_customer_cohorts read
-- these rows instead of every line of the history. Revenue sums stay exact.
with

lines as (

    select * from {{ ref('fct_order_lines') }}
    where customer_id is not null and line_type in ('sale', 'cancellation')
    {% if is_incremental() -%}
        and sales_date >= {{ window_start('sales_date') }}
    {%- endif %}

),

final as (

    select
        cast(sales_date as date) as sales_date,
        cast(customer_id as bigint) as customer_id,
        cast(count(*) filter (where line_type = 'sale') as bigint) as sale_lines,
        -- An invoice has one invoice day, so summing a customer's days counts each invoice once.
        cast(count(distinct invoice_no) filter (where line_type = 'sale') as bigint) as orders,
        cast(coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as decimal(38, 3))
            as sale_revenue,
        cast(coalesce(sum(revenue) filter (where line_type = 'cancellation'), 0) as decimal(38, 3))
            as cancellation_revenue

    from lines
    group by sales_date, customer_id

)

select * from final
