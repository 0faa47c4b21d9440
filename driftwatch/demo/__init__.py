"""A realistic demo AWS account, served by moto, for ``make demo`` and the tests."""
