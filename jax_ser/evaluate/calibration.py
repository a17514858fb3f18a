"""Temperature scaling (Guo et al., 2017): one scalar T > 0 fitted on held-out outputs.

Evaluation holds class probabilities, not logits, so the temperature acts on their logarithms:
p_T ∝ exp(log p / T) = p ** (1 / T). For softmax outputs of a single crop this is exactly softmax
(logits / T), since log-softmax differs from the logits by a per-example constant. For probabilities
averaged over crops (eval.crops > 1), for scikit-learn estimators, and for train.loss=sigmoid
(per-class sigmoid scores normalised to sum to one) it is the same power map on those
probabilities, not a temperature inside the sigmoid; in every case it is monotone per example, so
the predicted class (and UA, WA, macro-F1) never changes. T > 1 softens over-confident outputs.
"""

import numpy as np
from scipy import optimize

# T is searched in [1/20, 20] on a log scale; beyond these an output is all but one-hot or uniform.
T_RANGE = (0.05, 20.0)
TINY = 1e-12  # floor of a probability before its logarithm


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """Probabilities [N, C] re-scaled as softmax(log(probs) / temperature)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.log(np.maximum(np.asarray(probs, np.float64), TINY)) / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def nll(y_true, probs) -> float:
    """Mean negative log-likelihood of the true classes."""
    probs = np.asarray(probs, np.float64)
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(probs)), y_true], TINY))))


def fit_temperature(y_true, probs) -> float:
    """The T in T_RANGE minimising the NLL of apply_temperature(probs, T) on (y_true, probs)."""
    y_true = np.asarray(y_true)
    if y_true.size == 0:
        raise ValueError("fit_temperature needs at least one example")
    log_p = np.log(np.maximum(np.asarray(probs, np.float64), TINY))
    picked = log_p[np.arange(len(y_true)), y_true]

    def loss(log_t):
        z = log_p / np.exp(log_t)
        top = z.max(axis=1)
        log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        return float(np.mean(log_norm - picked / np.exp(log_t)))

    bounds = np.log(T_RANGE)
    result = optimize.minimize_scalar(loss, bounds=bounds, method="bounded",
                                      options={"xatol": 1e-4})
    return float(np.exp(result.x))
