# Sourced by scripts/test: environment the builds and tests need.
