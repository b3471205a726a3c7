-- Incremental by invoice day (dbt_project.yml): a run rebuilds the days of its window.
with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}
    {% if is_incremental() -%}
    -- An invoice's lines share its invoice day: the window's invoices are rebuilt whole.
    where sales_date >= {{ window_start() }}
    {%- endif %}

),

orders as (

    select
        invoice_no,
        min(invoiced_at) as invoiced_at,
        min(sales_date) as sales_date,
        -- An invoice has one customer and one country in this data; min() keeps it
        -- deterministic should a future file disagree.
        min(customer_id) as customer_id,
        min(country) as country,
        case
            when starts_with(invoice_no, 'C') then 'cancellation'
            when starts_with(invoice_no, 'A') then 'adjustment'
            else 'order'
        end as order_type,
        count(*) as line_count,
        count(*) filter (where line_type = 'sale') as sale_line_count,
        coalesce(sum(quantity) filter (where line_type = 'sale'), 0) as units,
        coalesce(sum(line_revenue) filter (where line_type = 'sale'), 0) as gross_revenue,
        coalesce(-sum(line_revenue) filter (where line_type = 'cancellation'), 0)
            as cancelled_revenue,
        sum(line_revenue) as total_line_revenue

    from lines
    group by invoice_no

)

select * from orders
