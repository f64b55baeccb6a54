"""advproof: an executable companion book to the theory of adversarial training.

Importing the package defines things and nothing else: no device probing, no seeding, no
logging configuration, no thread-count changes (STYLE §8).
"""

__version__ = "0.1.0"
