"""Pure desired-state builders: spec + observed facts -> REST-shaped bodies. No I/O, clock or environment."""
