"""A prediction server for a trained model, behind the HTTP API clients already speak.

    python serve.py --model runs/nsmc/expert-20261126-120000/model
    curl -s localhost:8080 -H 'Content-Type: application/json' -d '{"inputs": "정말 재밌는 영화였다"}'

Needs FastAPI and uvicorn, an optional extra: pip install -e ".[serve]"
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.serve())  # koelectra_cookbook/commands/serve.py
