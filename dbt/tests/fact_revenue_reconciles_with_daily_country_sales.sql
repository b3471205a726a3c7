-- Per day, the sale and cancellation revenue of fct_order_lines equals daily_country_sales'
-- gross and cancelled revenue (each mart figure rounds the exact sum once per country, so
-- the day's totals may differ by at most half a penny per country row). The days of the
-- run's window: the days it wrote (macros/incremental_window.sql, test_window_start).
with

facts as (

    select
        sales_date,
        coalesce(sum(revenue) filter (where line_type = 'sale'), 0) as gross_revenue,
        coalesce(-sum(revenue) filter (where line_type = 'cancellation'), 0) as cancelled_revenue

    from {{ ref('fct_order_lines') }}
    where sales_date >= {{ test_window_start() }}
    group by sales_date

),

marts as (

    select
        sales_date,
        sum(gross_revenue) as gross_revenue,
        sum(cancelled_revenue) as cancelled_revenue,
        count(*) as country_rows

    from {{ ref('daily_country_sales') }}
    where sales_date >= {{ test_window_start() }}
    group by sales_date

)

select
    f.sales_date,
    f.gross_revenue,
    m.gross_revenue as mart_gross_revenue,
    f.cancelled_revenue,
    m.cancelled_revenue as mart_cancelled_revenue

from facts as f
full outer join marts as m on f.sales_date = m.sales_date
where
    m.sales_date is null and (f.gross_revenue <> 0 or f.cancelled_revenue <> 0)
    or f.sales_date is null
    or abs(f.gross_revenue - m.gross_revenue) > 0.005 * m.country_rows
    or abs(f.cancelled_revenue - m.cancelled_revenue) > 0.005 * m.country_rows
