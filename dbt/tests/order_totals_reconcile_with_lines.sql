-- Every invoice's totals in fct_orders equal the sums of its lines in fct_order_lines, for the
-- invoices of the run's window (an invoice has one invoice day; test_window_start).
with

lines as (

    select
        invoice_no,
        count(*) as line_count,
        coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as gross_revenue,
        sum(revenue) as total_line_revenue

    from {{ ref('fct_order_lines') }}
    where sales_date >= {{ test_window_start() }}
    group by invoice_no

),

orders as (

    select * from {{ ref('fct_orders') }}
    where sales_date >= {{ test_window_start() }}

)

select o.invoice_no
from orders as o
full outer join lines as l on o.invoice_no = l.invoice_no
where
    o.invoice_no is null
    or l.invoice_no is null
    or o.line_count <> l.line_count
    or o.gross_revenue <> l.gross_revenue
    or o.total_line_revenue <> l.total_line_revenue
