with

lines as (

    select * from {{ ref('int_invoice_lines_conformed') }}

),

final as (

    select
        cast(md5(country) as varchar) as country_key,
        cast(country as varchar) as country,
        cast(string_agg(distinct country_raw, ', ' order by country_raw) as varchar)
            as source_names

    from lines
    group by country

)

select * from final
