"""A web page for a trained model: a text box, its label probabilities, a file upload, the model's metrics.

    python app.py --model runs/nsmc/expert-20261126-120000/model
    python app.py --model RUN_DIR/model --port 8080 --host 0.0.0.0     # reachable from other machines

Needs Gradio, an optional extra: pip install -e ".[app]"
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.app())  # koelectra_cookbook/app/page.py
