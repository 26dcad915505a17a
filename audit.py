"""Check a task's training data: duplicates, evaluation texts leaked into training, and label issues (cleanlab on
out-of-fold probabilities from k trainings).

    python audit.py --task nsmc --demo
    python audit.py --task nsmc --checks duplicates                      # seconds: no training
    python audit.py --task ynat --set data.max_train_samples=20000 --folds 5
    python audit.py --config my.yaml --level intermediate

Writes <output-dir>/<task>/audit-<time>/ (duplicates.csv, leaks.csv, label_issues.csv, report.md); train
without confirmed rows with --set data.exclude=<csv>. Label issues need pip install -e ".[audit]".
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.audit())  # src/koelectra_cookbook/experiments/audit.py
