"""Loopback servers and generated data shared by the demo, the tests and the benchmark."""
