-- Customers with SCD2 history of their country (business time: invoice days).
-- depends_on: {{ ref('dim_country') }}

with

versions as (

    select * from {{ ref('int_customer_versions') }}

),

final as (

    select
        cast(customer_version_id as varchar) as customer_key,
        cast(customer_id as bigint) as customer_id,
        cast(country as varchar) as country,
        cast(md5(country) as varchar) as country_key,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(is_current as boolean) as is_current

    from versions

)

select * from final
