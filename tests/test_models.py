"""Heads and from-scratch models: shapes, parameter counts, train/eval modes, masks, cropping, and
learning a small separable problem in 100 Adam steps."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jax_ser import models
from jax_ser.models import bilstm, cnn, heads, lstm, lstm_dense, mlp, q2l

B, T, F, C = 32, 50, 20, 4

# Small configurations of every model and Q2L frontend.
MODELS = {
    "cnn": cnn.Model(C, channels=(8, 16), dropout=0.3),
    "bilstm": bilstm.Model(C, hidden=16, dropout=0.3),
    "bilstm_last": bilstm.Model(C, hidden=16, num_layers=1, pooling="last"),
    "lstm_dense": lstm_dense.Model(C, hidden=16, dense=(16, 16), dropout=0.1, sequence_length=40),
    "mlp": mlp.Model(C, hidden=(32,), pooling="mean_std"),
    "q2l_mel": q2l.Model(C, dim=16, num_layers=1, mlp_dim=32),
    "q2l_cnn": q2l.Model(C, frontend="cnn", dim=16, num_layers=1, mlp_dim=32, cnn_channels=(4, 8)),
    "q2l_bilstm": q2l.Model(C, frontend="bilstm", dim=16, num_layers=1, mlp_dim=32,
                            lstm_layers=1),
}
# One learning test per model file (the 1-layer BiLSTM compiles in half the time of the 2-layer
# one); the other Q2L frontends reuse the layers of cnn.py and bilstm.py.
LEARNERS = ("cnn", "bilstm_last", "lstm_dense", "mlp", "q2l_mel")
# Q2L's dropout is left to q2l_mel here: its random masks double the head's compile time.
HEADS = {
    "linear": {},
    "mlp": {"hidden": (16,), "dropout": 0.2},
    "attentive_stats": {"attention_dim": 8},
    "q2l": {"dim": 16, "mlp_dim": 32, "pre_norm": True, "dropout": 0.0},
}


def key(seed: int) -> jax.Array:
    """An rbg key: XLA's RngBitGenerator compiles faster on CPU than threefry's hashing."""
    return jax.random.key(seed, impl="rbg")


def count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def abstract_variables(module, *inputs):
    return jax.eval_shape(lambda *x: module.init(key(0), *x, train=False), *inputs)


def draw_variables(module, *inputs):
    """Variables drawn with numpy in the module's shapes, for the tests of wiring and modes:
    compiling flax's initialisers costs seconds per model on a loaded CPU."""
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        if name in ("bias", "mean"):
            return jnp.zeros(leaf.shape, leaf.dtype)
        fan_in = np.prod(leaf.shape[:-1]) if leaf.ndim > 1 else 1
        return jnp.asarray(rng.normal(0.0, np.sqrt(1.0 / fan_in), leaf.shape), leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, abstract_variables(module, *inputs))


def lstm_params(inputs, hidden):
    """flax's OptimizedLSTMCell: 4 gates of input (no bias) and recurrent (with bias) kernels."""
    return 4 * (inputs * hidden + hidden * hidden + hidden)


def attention_params(dim):
    return 4 * (dim * dim + dim)  # query, key, value and output projections


def separable(num: int, seed: int):
    """4 classes whose frames are raised by 1 (noise std 1) in 5 class-specific bands of 20."""
    rng = np.random.default_rng(seed)
    labels = np.arange(num) % C
    frames = rng.normal(size=(num, T, F)).astype(np.float32)
    for c in range(C):
        frames[labels == c, :, 5 * c:5 * c + 5] += 1.0
    return jnp.asarray(frames), jnp.asarray(labels)


@pytest.fixture(scope="module")
def problem():
    """A training batch of B utterances and 2B held-out ones of the same problem."""
    return separable(B, seed=0), separable(2 * B, seed=1)


def padded_with_mask(frames):
    """Frames after the first 20..49 replaced by a value that would swamp any pooled statistic."""
    lengths = 20 + np.arange(frames.shape[0]) % 30
    mask = jnp.arange(T)[None, :] < lengths[:, None]
    return jnp.where(mask[..., None], frames, 100.0), mask


@pytest.fixture(scope="module")
def padded():
    """Frames [2, T, F] whose second utterance has only its first 30 frames valid."""
    frames = jax.random.normal(key(2), (2, T, F))
    mask = jnp.arange(T)[None, :] < jnp.array([[T], [30]])
    return frames, mask


def fit(module, train, held_out, steps=100, learning_rate=3e-3):
    """Full-batch Adam, one jitted step at a time (XLA's CPU backend ran the same steps 2.3-2.9x
    slower inside a lax.scan); returns the eval-mode accuracy on the training batch and on the
    held-out one (a fit that only memorised would fail the second)."""
    (inputs, labels), (held_out_inputs, held_out_labels) = train, held_out
    tx = optax.adam(learning_rate)

    @functools.partial(jax.jit, donate_argnums=0)
    def step(carry, dropout_key):
        params, state, opt_state = carry

        def loss_fn(p):
            logits, new_state = module.apply({"params": p, **state}, *inputs, train=True,
                                             rngs={"dropout": dropout_key}, mutable=list(state))
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), new_state

        grads, new_state = jax.grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), new_state, opt_state

    state = dict(module.init(key(0), *inputs, train=False))
    params = state.pop("params")
    carry = (params, state, tx.init(params))
    for dropout_key in jax.random.split(key(1), steps):
        carry = step(carry, dropout_key)
    params, state, _ = carry
    both = [jnp.concatenate(pair) for pair in zip(inputs, held_out_inputs)]
    correct = jnp.argmax(module.apply({"params": params, **state}, *both, train=False), -1) == (
        jnp.concatenate([labels, held_out_labels]))
    return float(jnp.mean(correct[:len(labels)])), float(jnp.mean(correct[len(labels):]))


@pytest.mark.parametrize("name", LEARNERS)
def test_model_learns_separable_problem(name, problem):
    (frames, labels), (held_out, held_out_labels) = problem
    accuracies = fit(MODELS[name], ((frames,), labels), ((held_out,), held_out_labels))
    assert min(accuracies) > 0.9


@pytest.mark.parametrize("name", HEADS)
def test_head_learns_separable_problem_through_mask(name, problem):
    (frames, labels), (held_out, held_out_labels) = problem
    head = heads.build_head(name, C, **HEADS[name])
    accuracies = fit(head, (padded_with_mask(frames), labels),
                     (padded_with_mask(held_out), held_out_labels))
    assert min(accuracies) > 0.9


@pytest.mark.parametrize("name", MODELS)
def test_model_output_shape_and_dtype(name):
    model = MODELS[name]
    feats = jax.ShapeDtypeStruct((3, 37, F), jnp.float32)
    out = jax.eval_shape(lambda x: model.init_with_output(key(0), x)[0], feats)
    assert (out.shape, out.dtype) == ((3, C), jnp.float32)


@pytest.mark.parametrize("name", HEADS)
def test_head_output_shape_and_dtype(name):
    head = heads.build_head(name, 7, **HEADS[name])
    frames = jax.ShapeDtypeStruct((3, 37, 24), jnp.bfloat16)
    mask = jax.ShapeDtypeStruct((3, 37), jnp.bool_)
    out = jax.eval_shape(lambda x, m: head.init_with_output(key(0), x, m)[0], frames, mask)
    assert (out.shape, out.dtype) == ((3, 7), jnp.float32)


def test_param_counts():
    feats = jax.ShapeDtypeStruct((1, T, F), jnp.float32)
    counted = {name: count(abstract_variables(m, feats)["params"]) for name, m in MODELS.items()}
    conv = lambda cin, cout: 9 * cin * cout + 2 * cout  # conv without bias, BatchNorm scale + bias
    assert counted["cnn"] == conv(1, 8) + conv(8, 16) + 16 * C + C
    assert counted["bilstm"] == 2 * (lstm_params(F, 16) + lstm_params(32, 16)) + 32 * C + C
    assert counted["bilstm_last"] == 2 * lstm_params(F, 16) + 32 * C + C
    assert counted["lstm_dense"] == lstm_params(F, 16) + 2 * (16 * 16 + 16) + 16 * C + C
    assert counted["mlp"] == 2 * F * 32 + 32 + 32 * C + C  # the standardiser has no parameters
    layer = 2 * attention_params(16) + (16 * 32 + 32) + (32 * 16 + 16) + 3 * 2 * 16
    q2l_head = lambda d_in: d_in * 16 + 16 + C * 16 + layer + C * 16 + C
    assert counted["q2l_mel"] == F * 16 + 16 + 1024 * 16 + q2l_head(16)
    assert counted["q2l_cnn"] == conv(1, 4) + conv(4, 8) + q2l_head(8 * (F // 4))
    assert counted["q2l_bilstm"] == 2 * lstm_params(F, 8) + q2l_head(16)


def test_default_models_are_the_reports_sizes():
    """Defaults as documented: sklearn's (300,) MLP, a 4-block CNN, a 2-layer 256-unit BiLSTM."""
    feats = jax.ShapeDtypeStruct((1, T, 128), jnp.float32)
    params = abstract_variables(mlp.Model(8), feats)["params"]
    assert params["hidden0"]["kernel"].shape == (128, 300)
    params = abstract_variables(cnn.Model(8), feats)["params"]
    assert [params[f"block{i}"]["conv"]["kernel"].shape[-1] for i in range(4)] == [32, 64, 128, 256]
    params = abstract_variables(bilstm.Model(8), feats)["params"]
    assert params["encoder"]["backward1"]["ii"]["kernel"].shape == (512, 256)
    assert params["classifier"]["kernel"].shape == (512, 8)


def test_registry_finds_every_model():
    assert {"cnn", "bilstm", "lstm_dense", "mlp", "q2l"} <= set(models.names())
    # every name but scikit-learn's family is a Flax Model: the building blocks several models
    # share (heads, lstm) are not listed
    assert [n for n in models.names() if not hasattr(models.module(n), "Model")] == ["classical"]
    model = models.build({"name": "lstm_dense", "init": "random", "hidden": 8}, num_classes=5)
    assert isinstance(model, lstm_dense.Model) and model.num_classes == 5


@pytest.mark.parametrize("name", ["cnn", "bilstm", "mlp", "q2l_mel"])
def test_train_and_eval_modes(name, problem):
    """Eval is deterministic and keeps BatchNorm statistics; training draws dropout from its rng
    and updates the statistics."""
    model, feats = MODELS[name], problem[0][0][:8]
    variables = draw_variables(model, feats)

    @jax.jit
    def outputs(a, b):
        evals = [model.apply(variables, feats, train=False, rngs={"dropout": k}) for k in (a, b)]
        trains = [model.apply(variables, feats, train=True, rngs={"dropout": k},
                              mutable=["batch_stats"]) for k in (a, a, b)]
        return evals, [logits for logits, _ in trains], trains[0][1]

    (eval_a, eval_b), (train_a, train_a2, train_b), state = outputs(key(3), key(4))
    np.testing.assert_array_equal(eval_a, eval_b)
    np.testing.assert_array_equal(train_a, train_a2)
    assert not np.allclose(train_a, eval_a, atol=1e-4)
    has_dropout = name != "mlp"
    assert has_dropout != np.allclose(train_a, train_b)
    has_batchnorm = "batch_stats" in variables
    assert has_batchnorm == bool(state)
    for before, after in zip(*(jax.tree_util.tree_leaves(v.get("batch_stats", {}))
                               for v in (variables, state))):
        assert not np.allclose(before, after)


def test_masked_mean_and_std_match_numpy(padded):
    frames, mask = padded
    valid = np.asarray(frames[1, :30])
    np.testing.assert_allclose(heads.masked_mean(frames, mask)[1], valid.mean(0), rtol=1e-5,
                               atol=1e-6)
    pooled = heads.masked_mean_std(frames, mask)
    np.testing.assert_allclose(pooled[1, F:], valid.std(0), rtol=1e-4)
    np.testing.assert_allclose(pooled[0, :F], np.asarray(frames[0]).mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", HEADS)
def test_head_ignores_masked_frames(name, padded):
    """Padding changed arbitrarily leaves the logits as they are, equal to the unpadded ones."""
    frames, mask = padded
    head = heads.build_head(name, C, **HEADS[name])
    variables = draw_variables(head, frames, mask)
    noise = 1e3 * jax.random.normal(key(5), frames.shape)

    @jax.jit
    def outputs():
        apply = lambda x, m: head.apply(variables, x, m, train=False)
        perturbed = jnp.where(mask[..., None], frames, noise)
        return (apply(frames, mask), apply(perturbed, mask),
                apply(frames[1:, :30], jnp.ones((1, 30), bool)), apply(perturbed, None))

    logits, perturbed, alone, unmasked = outputs()
    np.testing.assert_allclose(perturbed, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits[1:], alone, rtol=1e-5, atol=1e-5)
    assert not np.allclose(unmasked, logits, atol=1e-3)


def test_q2l_scores_each_class_with_its_own_projection(padded):
    frames, mask = padded
    head = heads.Query2Label(C, dim=16, mlp_dim=32)
    params = draw_variables(head, frames, mask)["params"]
    assert params["class_kernel"].shape == (C, 16)
    assert params["class_bias"].shape == (C,)
    assert params["label_queries"].shape == (C, 16)
    changed = {**params, "class_kernel": params["class_kernel"].at[2].add(1.0),
               "class_bias": params["class_bias"].at[2].add(1.0)}
    difference = jax.jit(lambda a, b: head.apply({"params": a}, frames, mask)
                         - head.apply({"params": b}, frames, mask))(changed, params)
    assert np.all(np.asarray(difference[:, 2]) != 0)
    np.testing.assert_array_equal(np.delete(np.asarray(difference), 2, axis=1), 0.0)


def test_q2l_pre_norm_and_depth():
    head = heads.Query2Label(C, num_layers=3, dim=16, mlp_dim=32, pre_norm=True)
    frames = jax.ShapeDtypeStruct((2, 10, 8), jnp.float32)
    params = abstract_variables(head, frames)["params"]
    assert {"layer0", "layer1", "layer2", "final_norm"} <= set(params)


class FlaxBiLSTM(nn.Module):
    """bilstm.BiLSTMEncoder(hidden, 2 layers) from flax's nn.RNN(nn.OptimizedLSTMCell)."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        for i in range(2):
            x = nn.Bidirectional(nn.RNN(nn.OptimizedLSTMCell(self.hidden, name=f"forward{i}")),
                                 nn.RNN(nn.OptimizedLSTMCell(self.hidden, name=f"backward{i}")))(x)
        return x


class FlaxLastState(nn.Module):
    """lstm_dense's LSTM from flax: the last state of one direction."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        cell = nn.OptimizedLSTMCell(self.hidden, name="lstm")
        return nn.RNN(cell, return_carry=True)(x)[0][1]


class LastState(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x):
        params = lstm.LSTMParams(self.hidden, name="lstm")(x.shape[-1])
        return lstm.lstm(x, [params], reverse=(False,))[0][:, -1]


@pytest.mark.parametrize("ours, theirs", [
    (bilstm.BiLSTMEncoder(6, num_layers=2, dropout=0.0), FlaxBiLSTM(6)),
    (LastState(6), FlaxLastState(6)),
], ids=["bilstm", "last_state"])
def test_lstm_layers_are_flaxs_lstm_cell_computed_faster(ours, theirs):
    """jax_ser.models.lstm: the same parameters (names, shapes, initial values), outputs and
    gradients as flax's nn.RNN(nn.OptimizedLSTMCell), so old checkpoints load and train alike."""
    x = jax.random.normal(jax.random.key(1), (3, 7, 5))
    params = theirs.init(jax.random.key(0), x)["params"]
    jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(0), x)["params"], params)
    out = ours.apply({"params": params}, x)
    np.testing.assert_allclose(out, theirs.apply({"params": params}, x), atol=1e-6)
    probe = jax.random.normal(jax.random.key(2), out.shape)

    def grads(module):
        loss = lambda p, x: jnp.vdot(module.apply({"params": p}, x), probe)
        return jax.grad(loss, argnums=(0, 1))(params, x)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), grads(ours),
                 grads(theirs))


def test_crop_frames():
    feats = jnp.arange(2 * 10 * 1, dtype=jnp.float32).reshape(2, 10, 1)
    np.testing.assert_array_equal(lstm_dense.crop_frames(feats, 4, None), feats[:, 3:7])
    np.testing.assert_array_equal(lstm_dense.crop_frames(feats, 12, None), feats)
    starts = set()
    for seed in range(8):
        crop = np.asarray(lstm_dense.crop_frames(feats, 4, key(seed)))
        for row, original in zip(crop, np.asarray(feats)):
            start = int(row[0, 0] - original[0, 0])
            np.testing.assert_array_equal(row, original[start:start + 4])
            starts.add(start)
    assert len(starts) > 2 and starts <= set(range(7))


def test_lstm_dense_crops_centre_in_eval_and_random_in_training(problem):
    feats = problem[0][0][:4]
    small = dict(hidden=8, dense=(8, 8), dropout=0.0, standardize=False)  # no batch statistics
    model = lstm_dense.Model(C, sequence_length=20, **small)
    whole = lstm_dense.Model(C, **small)
    variables = draw_variables(model, feats)

    @jax.jit
    def outputs(a, b):
        run = lambda k, train: model.apply(variables, feats, train=train, rngs={"dropout": k})
        centre = whole.apply(variables, feats[:, 15:35])
        return [run(a, False), run(b, False), centre, run(a, True), run(a, True), run(b, True)]

    eval_a, eval_b, centre, train_a, train_a2, train_b = outputs(key(6), key(7))
    np.testing.assert_array_equal(eval_a, eval_b)
    np.testing.assert_allclose(eval_a, centre, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(train_a, train_a2)
    assert not np.allclose(train_a, train_b)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown head 'transformer'; known: linear, mlp"):
        heads.build_head("transformer", C)
    with pytest.raises(ValueError, match="unknown frontend 'conformer'"):
        q2l.Model(C, frontend="conformer")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        bilstm.Model(C, pooling="max")
    with pytest.raises(ValueError, match="unknown pooling 'median'"):
        mlp.Model(C, pooling="median")


def test_q2l_rejects_more_frames_than_positions():
    model = q2l.Model(C, dim=16, mlp_dim=32, max_frames=32)
    with pytest.raises(ValueError, match="50 frames exceed max_frames=32"):
        abstract_variables(model, jax.ShapeDtypeStruct((1, 50, F), jnp.float32))
