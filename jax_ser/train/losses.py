"""Losses and scores of the train step, and the class probabilities of the loss's kind."""

import jax
import jax.numpy as jnp
import optax


def classification_loss(logits, labels_, class_weights, label_smoothing: float, kind: str):
    """Softmax cross-entropy, or per-label sigmoid binary cross-entropy (Query2Label's choice),
    averaged with the class weights of each example's label. `labels_` are class indices [B], or
    soft targets [B, C] from mixup or cutmix: an example mixing two labels then weighs the same
    mixture of their class weights, and label smoothing applies to the mixture."""
    if labels_.ndim == logits.ndim:  # soft targets
        mixed = labels_.astype(jnp.float32)
        weights = jnp.sum(mixed * class_weights, axis=-1)
    else:
        mixed = jax.nn.one_hot(labels_, logits.shape[-1])
        weights = class_weights[labels_]
    targets = optax.smooth_labels(mixed, label_smoothing)
    if kind == "sigmoid":
        per_example = optax.sigmoid_binary_cross_entropy(logits, targets).sum(axis=-1)
    else:
        per_example = optax.softmax_cross_entropy(logits, targets)
    return jnp.sum(per_example * weights) / jnp.sum(weights)


def batch_accuracy(logits, targets) -> jax.Array:
    """Share of examples whose top logit is their target class: the label for class indices
    [B], the class with the larger share for soft targets [B, C]. Under mixup an example mostly
    made of its partner is scored against the partner's class, the one it shows."""
    truth = jnp.argmax(targets, -1) if targets.ndim == logits.ndim else targets
    return jnp.mean(jnp.argmax(logits, -1) == truth)


def probabilities(logits, kind: str):
    logits = logits.astype(jnp.float32)
    if kind == "sigmoid":
        scores = jax.nn.sigmoid(logits)
        return scores / jnp.sum(scores, axis=-1, keepdims=True)
    return jax.nn.softmax(logits)
