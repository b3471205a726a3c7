-- A generated calendar: every day of every year that has invoice lines.
with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}

),

bounds as (

    select
        date_trunc('year', min(sales_date)) as first_day,
        date_trunc('year', max(sales_date)) + interval 1 year - interval 1 day as last_day

    from lines

),

days as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_day
    from bounds
    where first_day is not null

),

final as (

    select
        cast(date_day as date) as date_day,
        cast(year(date_day) as integer) as year,
        cast(quarter(date_day) as integer) as quarter,
        cast(month(date_day) as integer) as month,
        cast(strftime(date_day, '%B') as varchar) as month_name,
        cast(date_trunc('month', date_day) as date) as month_start_date,
        cast(strftime(date_day, '%W') as integer) as week_number,
        cast(isodow(date_day) as integer) as day_of_week,
        cast(strftime(date_day, '%A') as varchar) as day_name,
        cast(isodow(date_day) in (6, 7) as boolean) as is_weekend

    from days

)

select * from final
