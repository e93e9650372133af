.PHONY: serve test lint bench

serve:  ## Serve on http://127.0.0.1:8000 with SQLite, demo network and logins
	bash scripts/serve.sh

test:   ## Ruff, migrations check and the whole suite on PostgreSQL, Redis and Chromium
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
