"""Helpers the test modules share: the test run's configuration, the server under test, clients of the API and dashboard, and ledger, event, error and fault-injection helpers."""
