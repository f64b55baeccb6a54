"""pytest configuration shared by tests/ and the nbval run over notebooks/.

The notebook kernels that nbval starts inherit this environment, so `pytest --nbval notebooks/`
behaves the same from the README, from `make test` and in CI: no progress bars in outputs
(tqdm honours TQDM_DISABLE) and a fixed number of threads for reproducible numbers.
"""

import os

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
os.environ.setdefault("ADVPROOF_MODE", "quick")
