"""pytest configuration shared by tests/ and the nbval run over notebooks/.

The notebook kernels that nbval starts inherit this environment, so `pytest --nbval notebooks/`
behaves the same from the README, from `make test` and in CI: no progress bars in outputs, a
fixed number of threads and a fixed CPU instruction set for reproducible numbers (see
advproof.environment). It is applied before anything imports torch.
"""

from advproof.environment import apply

apply()
