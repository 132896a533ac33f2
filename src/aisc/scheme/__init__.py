"""The subsidy scheme: rates, dates, eligible categories and weighted assessment criteria."""
