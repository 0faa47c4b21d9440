"""Test helpers shared across the test suite: loopback servers and builders."""
