-- SCD2 history of each product's description and price, in business time (invoice days), so
-- a rebuild, a backfill or a late file always gives the same versions.
with

days as (

    -- One row per product and invoice day (int_product_days, incremental).
    select * from {{ ref('int_product_days') }}

),

priced_days as (

    -- A product's state on a day comes from its priced lines (unit_price > 0): the last
    -- non-empty description of the day, and the day's most frequent price (ties: the higher).
    select
        stock_code,
        sales_date,
        priced_description as description,
        list_price

    from days
    where has_priced_lines

),

products as (

    select
        stock_code,
        min(sales_date) as first_seen_date,
        bool_or(is_product) as is_product,
        arg_max(last_description, (last_described_at, last_described_key, last_described_row))
        filter (where last_description is not null) as any_description

    from days
    group by stock_code

),

states as (

    -- Products never sold at a price get one state from their first day.
    select
        p.stock_code,
        coalesce(d.sales_date, p.first_seen_date) as state_date,
        coalesce(
            last_value(d.description ignore nulls) over (
                partition by p.stock_code order by d.sales_date
                rows between unbounded preceding and current row
            ),
            p.any_description
        ) as description,
        d.list_price

    from products as p
    left join priced_days as d on p.stock_code = d.stock_code

),

hashed as (

    select
        *,
        md5(coalesce(description, '') || '|' || coalesce(cast(list_price as varchar), ''))
            as state_hash

    from states

),

changes as (

    select
        *,
        coalesce(
            state_hash <> lag(state_hash) over (partition by stock_code order by state_date), true
        ) as is_change

    from hashed

),

versions as (

    select
        c.stock_code,
        c.description,
        c.list_price,
        p.is_product,
        -- The first version reaches back to the product's first line of any kind.
        case
            when row_number() over (partition by c.stock_code order by c.state_date) = 1
                then p.first_seen_date
            else c.state_date
        end as valid_from

    from changes as c
    inner join products as p on c.stock_code = p.stock_code
    where c.is_change

),

final as (

    select
        md5(stock_code || '|' || cast(valid_from as varchar)) as product_version_id,
        stock_code,
        description,
        list_price,
        is_product,
        valid_from,
        lead(valid_from) over (partition by stock_code order by valid_from) as valid_to,
        lead(valid_from) over (partition by stock_code order by valid_from) is null as is_current

    from versions

)

select * from final
