"""The Matrix adapter: matrix-nio sync to core events, and the core's Platform for Matrix."""
