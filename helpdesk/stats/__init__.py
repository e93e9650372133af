"""Statistics and demand estimates: rollups, forecasts and staffing (docs/architecture.md)."""
