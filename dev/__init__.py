"""Development launcher behind `make run`: embedded Redis, development keys, the sandbox, API, worker and beat."""
