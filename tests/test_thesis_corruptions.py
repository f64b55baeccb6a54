"""The corruptions of Table 4.4's digits version and the smoke run of thesis_corruptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advproof.experiments import thesis_corruptions as tc


def _images(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2


@pytest.mark.parametrize("name", tc.CORRUPTIONS)
def test_every_corruption_keeps_shape_and_range_and_changes_the_images(name):
    X = _images()
    out = tc.corrupt(X, name, 8, torch.Generator().manual_seed(1))
    assert out.shape == X.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, X)


def test_the_corruptions_do_what_they_say():
    X, gen = _images(), torch.Generator().manual_seed(2)
    torch.testing.assert_close(tc.corrupt(X, "brightness", 8, gen), (X + 0.2).clamp(0, 1))
    c = tc.corrupt(X, "contrast", 8, gen)  # no clipping: values stay in [0.2, 0.8]
    torch.testing.assert_close(c - c.mean(1, keepdim=True),
                               0.5 * (X - X.mean(1, keepdim=True)))
    img = X.reshape(-1, 1, 8, 8)  # the loaders' shape: the same corruption
    torch.testing.assert_close(tc.corrupt(img, "contrast", 8, gen), c.reshape(img.shape))
    torch.testing.assert_close(tc.corrupt(img, "gaussian_blur", 8, gen),
                               tc.corrupt(X, "gaussian_blur", 8, gen).reshape(img.shape))
    flat = torch.full((2, 64), 0.3)
    torch.testing.assert_close(tc.corrupt(flat, "gaussian_blur", 8, gen), flat)  # weights sum 1
    imp = tc.corrupt(X, "impulse_noise", 8, torch.Generator().manual_seed(3))
    changed = imp != X
    assert set(imp[changed].unique().tolist()) <= {0.0, 1.0}
    assert 0.0 < changed.double().mean() < 0.15
    with pytest.raises(ValueError, match="unknown corruption"):
        tc.corrupt(X, "fog", 8, gen)


def test_smoke_run():
    res = tc.run("smoke", seed=0)
    assert sorted(res.d) == ["clean/0", "contrast/0", "gaussian_noise/0", "pgd/0"]
    for d in res.d.values():
        assert d.shape == (359,) and d.mean() == pytest.approx(0.5)
    assert np.isnan(res.distance("clean", "clean"))  # one seed: no run-to-run pair
    assert 0 < res.distance("clean", "contrast") < 1
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="CPU"):
        tc.run("smoke", device="cuda")
