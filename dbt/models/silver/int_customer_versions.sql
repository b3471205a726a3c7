-- SCD2 history of each customer's country, in business time (invoice days).
with

days as (

    -- A customer's country on a day (int_customer_days, incremental).
    select * from {{ ref('int_customer_days') }}

),

changes as (

    select
        *,
        coalesce(
            country <> lag(country) over (partition by customer_id order by sales_date), true
        ) as is_change

    from days

),

versions as (

    select
        customer_id,
        country,
        sales_date as valid_from

    from changes
    where is_change

),

final as (

    select
        md5(cast(customer_id as varchar) || '|' || cast(valid_from as varchar))
            as customer_version_id,
        customer_id,
        country,
        valid_from,
        lead(valid_from) over (partition by customer_id order by valid_from) as valid_to,
        lead(valid_from) over (partition by customer_id order by valid_from) is null as is_current

    from versions

)

select * from final
