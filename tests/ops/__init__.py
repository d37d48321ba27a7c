"""Operations tests: several real processes on one PostgreSQL."""
