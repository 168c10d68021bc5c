"""The OpenAPI 3.1 document of the JSON API, built from the limits and patterns of the code that enforces them."""
