"""The load test: its users (scenario), their Locust wrapping (locustfile)."""
