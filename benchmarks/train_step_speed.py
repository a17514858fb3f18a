"""Training-step speed of jax_ser against the same models in PyTorch, in one process.

  python -m benchmarks.train_step_speed [--batch 32] [--seconds 3] [--steps 5]

jax_ser's step is `train.Run(config).train_step`, exactly what training runs: features from the
waveforms, forward, backward, clipping and AdamW, all in one jitted call. The PyTorch twins take
the same waveforms and do the same work eagerly, in the way a PyTorch SER script does: features
with torch.stft and librosa's mel matrix inside the step, a torchvision-style ResNet18 (same
widths, strides and BatchNorm) or nn.LSTM, cross-entropy, clip_grad_norm_ and AdamW with decay on
the weights only. Both see the same batch, and their parameter counts are printed and checked.
Both use every core this process may use. On a shared, oversubscribed host, also run it under
`taskset -c 0`: PyTorch's OpenMP threads then lose far more than XLA's, which skews the ratio.
"""

import os
from pathlib import Path

import jax
import librosa
import numpy as np
import torch
from absl import app, flags
from torch import nn

from benchmarks import common
from jax_ser import train

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"resnet18": "configs/resnet18_mel.py", "bilstm": "configs/bilstm_logmel.py"}


class TorchFrontend(nn.Module):
    """Waves [B, N] -> normalised log-mel [B, T, n_mels], as jax_ser.train.frontend computes it."""

    def __init__(self, fc):
        super().__init__()
        self.fc = fc
        mel = librosa.filters.mel(sr=fc.sample_rate, n_fft=fc.n_fft, n_mels=fc.n_mels,
                                  fmin=fc.fmin, fmax=fc.fmax or None)
        self.register_buffer("mel", torch.from_numpy(mel))
        self.register_buffer("window", torch.hann_window(fc.win_length, periodic=True))

    def forward(self, waves):
        fc = self.fc
        spec = torch.stft(waves, fc.n_fft, fc.hop_length, fc.win_length, self.window,
                          center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        db = 10 * torch.log10(torch.clamp(self.mel @ power, min=1e-10)).transpose(1, 2)
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - fc.top_db)
        dims = (1, 2) if fc.normalize == "utterance" else (1,)
        mean = db.mean(dim=dims, keepdim=True)
        var = (db - mean).square().mean(dim=dims, keepdim=True)
        return (db - mean) * torch.rsqrt(var + 1e-5)


class TorchBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)  # as jax_ser's zero-init of the last scale
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class TorchResNet18(nn.Module):
    """jax_ser.models.resnet's ResNet18 (ImageNet stem, one input channel) in torchvision's form."""

    def __init__(self, fc, width: int, dropout: float, num_classes: int):
        super().__init__()
        self.frontend = TorchFrontend(fc)
        self.conv1 = nn.Conv2d(1, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], width
        for i in range(4):
            for j in range(2):
                blocks.append(TorchBasicBlock(cin, width * 2**i, 2 if i > 0 and j == 0 else 1))
                cin = width * 2**i
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, waves):
        with torch.no_grad():
            x = self.frontend(waves)[:, None]  # [B, 1, T, F]: time as height, as in jax_ser
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.blocks(x).mean(dim=(2, 3))
        return self.fc(self.dropout(x))


class TorchBiLSTM(nn.Module):
    """jax_ser.models.bilstm: stacked bidirectional LSTM, mean over frames, dropout, linear."""

    def __init__(self, fc, hidden: int, num_layers: int, dropout: float, num_classes: int):
        super().__init__()
        self.frontend = TorchFrontend(fc)
        self.lstm = nn.LSTM(fc.n_mels, hidden, num_layers, batch_first=True, dropout=dropout,
                            bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def forward(self, waves):
        with torch.no_grad():
            x = self.frontend(waves)
        x, _ = self.lstm(x)
        return self.classifier(self.dropout(x.mean(dim=1)))


def torch_model(config, num_classes: int) -> nn.Module:
    m = config.model
    if m.name == "resnet":
        return TorchResNet18(config.features, m.width, m.dropout, num_classes)
    return TorchBiLSTM(config.features, m.hidden, m.num_layers, m.dropout, num_classes)


def torch_step_fn(config, model: nn.Module, waves: np.ndarray, targets: np.ndarray):
    """One eager training step on the batch: forward, cross-entropy, backward, clip, AdamW."""
    tc = config.train
    weights = [p for p in model.parameters() if p.ndim > 1]  # kernels, as jax_ser decays
    others = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": weights, "weight_decay": tc.weight_decay},
                                   {"params": others, "weight_decay": 0.0}], lr=tc.learning_rate)
    waves, targets = torch.from_numpy(waves), torch.from_numpy(targets).long()
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(waves), targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip_norm)
        optimizer.step()
        return loss.item()

    return step


def benchmark(*, batch: int = 32, seconds: float = 3.0, steps: int = 5,
              models: tuple[str, ...] = tuple(CONFIGS)) -> dict:
    """Prints samples/s of jax_ser's and PyTorch's step per model and their ratio; returns them
    with the parameter counts as {model: {figure: value}}."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use
    rng = np.random.default_rng(0)
    waves = common.speech_clips(batch, seconds)
    targets = rng.integers(0, 8, batch).astype(np.int32)
    rows, figures = [], {}
    for name in models:
        config = common.load_config(REPO / CONFIGS[name])
        config.train.batch_size = batch
        config.data.clip_seconds = seconds
        run = train.Run(config, steps_per_epoch=100)
        holder = {"state": run.init()}
        jax_params = sum(x.size for x in jax.tree.leaves(holder["state"].params))
        global_batch = {"wave": run.to_global(waves), "label": run.to_global(targets)}

        def jax_step():
            holder["state"], metrics = run.train_step(holder["state"], global_batch)
            return metrics

        torch.manual_seed(0)
        model = torch_model(config, len(run.class_names))
        torch_params = sum(p.numel() for p in model.parameters())
        # nn.LSTM has two bias vectors per gate where flax's cell has one: 4 * hidden per cell.
        if abs(torch_params - jax_params) > 0.01 * jax_params:
            raise AssertionError(f"{name}: PyTorch twin has {torch_params:,} parameters, "
                                 f"jax_ser {jax_params:,}")
        ours, theirs = common.compare(
            {"jax": jax_step, "torch": torch_step_fn(config, model, waves, targets)}, steps
        ).values()
        figures[name] = {"jax_params": jax_params, "torch_params": torch_params,
                         "jax_ser": batch / ours, "pytorch": batch / theirs, "ratio": theirs / ours}
        rows += [(name, "jax_ser (jit)", jax_params, batch / ours, 1e3 * ours, theirs / ours),
                 (name, "PyTorch (eager)", torch_params, batch / theirs, 1e3 * theirs, 1.0)]
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; batch {batch} x "
          f"{seconds:g} s, median of {steps} steps")
    common.print_table(("model", "implementation", "parameters", "samples/s", "ms per step",
                        "speed vs PyTorch"), rows)
    print("ratio jax_ser / PyTorch samples/s: "
          + ", ".join(f"{name} {f['ratio']:.2f}x" for name, f in figures.items()))
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    benchmark(batch=f.batch, seconds=f.seconds, steps=f.steps, models=tuple(f.models))


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_integer("batch", 32, "Global batch size.")
    flags.DEFINE_float("seconds", 3.0, "Crop length, as data.clip_seconds.")
    flags.DEFINE_integer("steps", 5, "Timed steps per implementation; the median is reported.")
    flags.DEFINE_list("models", list(CONFIGS), f"Models to compare, of {', '.join(CONFIGS)}.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
